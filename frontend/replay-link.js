// The room view's link to the replay of its session (/replay/{id}). A module of its own so the
// room view's code need not know about the replay view.

const sessionId = Number(location.pathname.split("/").filter(Boolean).pop());
const back = document.querySelector(".page-head .back");
if (Number.isInteger(sessionId) && back) {
  const link = document.createElement("a");
  link.className = "back";
  link.id = "replay-link";
  link.href = `/replay/${sessionId}`;
  link.textContent = "Replay ▸";
  link.title = "Review this session on a timeline";
  back.before(link);
}
