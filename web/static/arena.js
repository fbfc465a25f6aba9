// Progressive enhancement only: every page works without this file.
"use strict";

// Sortable tables: click a header to sort by that column (again to reverse).
document.querySelectorAll("table.sortable").forEach((table) => {
  table.querySelectorAll("thead th").forEach((th, column) => {
    th.classList.add("sort");
    th.addEventListener("click", () => {
      const body = table.tBodies[0];
      const numeric = th.dataset.type === "number";
      const dir = th.dataset.dir === "asc" ? -1 : 1;
      table.querySelectorAll("thead th").forEach((h) => delete h.dataset.dir);
      th.dataset.dir = dir === 1 ? "asc" : "desc";
      const key = (row) => {
        const cell = row.cells[column];
        const text = cell.dataset.value ?? cell.textContent.trim();
        if (!numeric) return text.toLowerCase();
        const n = parseFloat(text);
        return Number.isNaN(n) ? Infinity : n;
      };
      const rows = Array.from(body.rows);
      rows.sort((a, b) => (key(a) < key(b) ? -dir : key(a) > key(b) ? dir : 0));
      rows.forEach((row) => body.appendChild(row));
    });
  });
});

// Live submission status: poll the API until the submission ends, then reload
// the page once to show its report.
const status = document.getElementById("status");
if (status && status.dataset.ended === "false") {
  const queue = document.getElementById("queue");
  const poll = async () => {
    try {
      const response = await fetch(status.dataset.api, { headers: { accept: "application/json" } });
      if (response.ok) {
        const s = await response.json();
        status.textContent = s.status;
        status.className = "status-" + s.status;
        queue.textContent = s.queue_position ? " · position " + s.queue_position + " in the queue" : "";
        if (["finished", "failed", "cancelled"].includes(s.status)) {
          window.location.reload();
          return;
        }
      }
    } catch (e) {
      // Network hiccup: try again at the next tick.
    }
    setTimeout(poll, 1000);
  };
  setTimeout(poll, 1000);
}
