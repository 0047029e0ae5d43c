// Refresh the scheduler banner and the status cells from the admin's status view, and count
// the times in them down (or up) every second in between. Only the tasks on the page are
// asked for. While a saved edit is not yet applied by the scheduler, poll every 250 ms (for
// ten seconds at most: a scheduler with a huge schedule writes its tasks' status less often).
"use strict";
(function () {
  const SIZES = [86400, 3600, 60, 1];
  let config = {units: ["d", "h", "min", "s"], pollMs: 2000, fastPollMs: 250, unavailable: "%(error)s"};
  let skew = 0; // the server's clock minus ours, in ms
  const FAST_FOR_MS = 10000;
  const loadedAt = Date.now();

  // The same words as autosched.humanize.short_span: the two largest units, "0 s" at zero.
  function span(seconds) {
    let whole = Math.max(0, Math.floor(seconds + 0.5));
    if (whole === 0) return "0 " + config.units[3];
    const parts = [];
    SIZES.forEach(function (size, index) {
      const count = Math.floor(whole / size);
      whole -= count * size;
      if (count) parts.push(count + " " + config.units[index]);
    });
    return parts.slice(0, 2).join(" ");
  }

  function tick() {
    const now = Date.now() + skew;
    for (const time of document.querySelectorAll("time[data-autosched-relative]")) {
      const at = Date.parse(time.getAttribute("datetime"));
      if (Number.isNaN(at)) continue;
      const seconds = (time.dataset.autoschedRelative === "in" ? at - now : now - at) / 1000;
      time.textContent = span(seconds);
    }
  }

  function cells() {
    return document.querySelectorAll("[data-autosched-id][data-autosched-field]");
  }

  function pending() {
    return Date.now() - loadedAt < FAST_FOR_MS &&
      document.querySelector(".autosched-cell.autosched-pending") !== null;
  }

  function showBanner(text, state) {
    const banner = document.getElementById("autosched-banner");
    if (!banner) return;
    banner.textContent = text;
    for (const name of Array.from(banner.classList)) {
      if (name.startsWith("autosched-banner-")) banner.classList.remove(name);
    }
    banner.classList.add("autosched-banner-" + state);
  }

  function apply(data) {
    skew = Date.parse(data.now) - Date.now();
    showBanner(data.banner, data.state);
    for (const cell of cells()) {
      const task = data.tasks[cell.dataset.autoschedId];
      if (!task) continue;
      const field = cell.dataset.autoschedField;
      cell.innerHTML = task[field]; // rendered and escaped by the server (autosched.admin.cells)
      cell.classList.toggle("autosched-pending", field === "next_run" && task.pending);
    }
    tick();
  }

  async function refresh(url) {
    const ids = Array.from(new Set(Array.from(cells(), function (cell) {
      return cell.dataset.autoschedId;
    })));
    const response = await fetch(url + "?ids=" + ids.join(","), {
      credentials: "same-origin",
      headers: {Accept: "application/json"},
    });
    if (!response.ok) throw new Error(String(response.status));
    apply(await response.json());
  }

  function poll(url) {
    refresh(url).catch(function (error) {
      // Logged out, or the server is down: say so, and grey what is shown.
      showBanner(config.unavailable.replace("%(error)s", error.message), "error");
      for (const cell of cells()) cell.classList.add("autosched-stale");
    }).finally(function () {
      setTimeout(function () { poll(url); }, pending() ? config.fastPollMs : config.pollMs);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const banner = document.getElementById("autosched-banner");
    const settings = document.getElementById("autosched-config");
    if (!banner) return;
    if (settings) config = Object.assign(config, JSON.parse(settings.textContent));
    if (config.now) skew = Date.parse(config.now) - Date.now();
    setInterval(tick, 1000);
    setTimeout(function () { poll(banner.dataset.statusUrl); },
      pending() ? config.fastPollMs : config.pollMs);
  });
})();
