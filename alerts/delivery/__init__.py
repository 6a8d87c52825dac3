"""Delivering alarms to people: who is told (``chain``), what each channel carries (``wire``), and
the channels themselves (``webhook``, ``notify``, ``pcd04``, ``push``). Pure where it decides,
asynchronous only where it talks to a receiver; nothing here imports the server."""
