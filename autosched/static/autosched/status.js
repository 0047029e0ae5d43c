// Refresh the scheduler banner and the status cells every 2 s from the admin's status view.
"use strict";
(function () {
  const INTERVAL_MS = 2000;

  function apply(data) {
    const banner = document.getElementById("autosched-banner");
    if (banner) {
      banner.textContent = data.banner;
      banner.classList.toggle("autosched-alive", data.alive);
      banner.classList.toggle("autosched-gone", !data.alive);
    }
    for (const cell of document.querySelectorAll("[data-autosched-task][data-autosched-field]")) {
      const cells = data.tasks[cell.dataset.autoschedTask];
      const field = cell.dataset.autoschedField;
      cell.textContent = cells ? cells[field] : "";
      if (field === "outcome") {
        // The error shows on hover.
        if (cells && cells.error) cell.title = cells.error; else cell.removeAttribute("title");
      }
    }
  }

  async function refresh(url) {
    try {
      const response = await fetch(url, {
        credentials: "same-origin",
        headers: {Accept: "application/json"},
      });
      if (!response.ok) throw new Error(response.status);
      apply(await response.json());
    } catch (error) {
      // Logged out, or the server is down: say so rather than show stale figures.
      const banner = document.getElementById("autosched-banner");
      if (banner) banner.textContent = "Live status unavailable (" + error.message + ").";
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    const banner = document.getElementById("autosched-banner");
    if (!banner) return;
    const url = banner.dataset.statusUrl;
    setInterval(function () { refresh(url); }, INTERVAL_MS);
  });
})();
