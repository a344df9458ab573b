// paybridge console: copy buttons, bulk replay with progress, and the JSON calls the pages make.
"use strict";

const paybridge = {
  csrfToken() {
    return document.querySelector('meta[name="csrf-token"]').content;
  },

  // A JSON call to paybridge with the session cookie and the CSRF token; returns {status, body}.
  async call(method, url, body) {
    const options = {
      method,
      headers: {"Accept": "application/json", "x-csrftoken": paybridge.csrfToken()},
      credentials: "same-origin",
    };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(url, options);
    const text = await response.text();
    let parsed = null;
    try { parsed = text ? JSON.parse(text) : null; } catch (error) { parsed = {error: {message: text}}; }
    return {status: response.status, body: parsed};
  },
};

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button.copy");
  if (!button) return;
  const text = document.getElementById(button.dataset.copy).textContent;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch (error) {
    const range = document.createRange();
    range.selectNodeContents(document.getElementById(button.dataset.copy));
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(range);
    button.textContent = "Selected: press Ctrl-C";
  }
});

const bulkForm = document.getElementById("bulk-replay");
if (bulkForm) {
  bulkForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const progress = document.getElementById("replay-progress");
    const status = document.getElementById("replay-status");
    const button = document.getElementById("replay-all");
    button.disabled = true;
    const form = new URLSearchParams(new FormData(bulkForm));
    const started = await fetch(bulkForm.action, {
      method: "POST", body: form, credentials: "same-origin",
      headers: {"Accept": "application/json"},
    });
    const job = await started.json();
    if (!started.ok) {
      status.textContent = job.error ? job.error.message : "Replay failed to start";
      button.disabled = false;
      return;
    }
    progress.hidden = false;
    progress.max = Math.max(job.total, 1);
    let done = 0;
    while (done < job.total) {
      const step = await paybridge.call("POST", `/console/bulk-replay/${job.id}`, {});
      if (step.status !== 200) {
        status.textContent = step.body.error.message;
        break;
      }
      done = step.body.done;
      progress.value = done;
      status.textContent = `${done} of ${job.total} queued again`;
    }
    if (job.total === 0) status.textContent = "Nothing to replay.";
    else status.textContent = `${done} of ${job.total} queued again: reload to follow them.`;
    button.disabled = false;
  });
}

// The delivery log follows deliveries that are still under way: while the page shows one that
// is pending or retrying, it fetches itself every few seconds and swaps in the new table.
const deliveryLog = document.getElementById("deliveries");
const UNDER_WAY = ".status-pending, .status-retrying";
if (deliveryLog && deliveryLog.querySelector(UNDER_WAY)) {
  const follow = async () => {
    const current = document.getElementById("deliveries");
    if (!current || !current.querySelector(UNDER_WAY)) return;
    const response = await fetch(window.location.href, {credentials: "same-origin"});
    if (response.ok) {
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById("deliveries");
      if (fresh) current.replaceWith(document.adoptNode(fresh));
    }
    window.setTimeout(follow, 2000);
  };
  window.setTimeout(follow, 1000);
}

window.paybridge = paybridge;
