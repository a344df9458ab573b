// The handler editor: CodeMirror, templates, sample and real events, Test, Send test, Create.
"use strict";

(function () {
  const page = document.getElementById("editor-page");
  if (!page) return;
  const integrationId = page.dataset.integrationId || null;
  const templates = JSON.parse(document.getElementById("templates-data").dataset.templates);
  const resultBox = document.getElementById("result");
  const eventBox = document.getElementById("event");
  const eventTypeSelect = document.getElementById("event-type");
  let samples = {};
  let markedLine = null;

  const editor = CodeMirror.fromTextArea(document.getElementById("code"), {
    mode: "python", lineNumbers: true, indentUnit: 4, tabSize: 4, viewportMargin: Infinity,
    extraKeys: {Tab: (cm) => cm.replaceSelection("    ")},
    gutters: ["CodeMirror-linenumbers", "error-gutter"],
  });
  editor.on("change", clearMark);
  // A result shown is of the code as it was tested: dim it once the code changes.
  editor.on("change", () => resultBox.classList.add("stale"));

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    for (const child of children) node.append(child);
    return node;
  }

  function clearMark() {
    if (markedLine === null) return;
    editor.removeLineClass(markedLine, "wrap", "error-line");
    editor.setGutterMarker(markedLine, "error-gutter", null);
    markedLine = null;
  }

  function markLine(line) {
    clearMark();
    if (!line || line < 1 || line > editor.lineCount()) return;
    markedLine = line - 1;
    editor.addLineClass(markedLine, "wrap", "error-line");
    editor.setGutterMarker(markedLine, "error-gutter", el("span", {class: "error-marker", title: "error here"}, "●"));
    editor.scrollIntoView({line: markedLine, ch: 0}, 80);
  }

  function eventPayload() {
    try {
      return {event: JSON.parse(eventBox.value)};
    } catch (error) {
      return {problem: `The test event is not JSON: ${error.message}`};
    }
  }

  function showResult(nodes, kind) {
    resultBox.replaceChildren(...nodes);
    resultBox.className = `result result-${kind}`;
    resultBox.hidden = false;
  }

  function describeRun(body) {
    const nodes = [];
    if (body.error) {
      const where = body.error.line ? ` (line ${body.error.line})` : "";
      nodes.push(el("p", {class: "error", id: "result-error"}, `${body.error.type}: ${body.error.message}${where}`));
      markLine(body.error.line);
    } else if (body.skipped) {
      nodes.push(el("p", {id: "result-skipped"}, `Skipped: ${body.reason}`));
    } else if (body.request) {
      nodes.push(el("p", {id: "result-request"}, el("strong", {}, body.request.method), " ", el("code", {id: "result-url"}, body.request.url)));
      if (body.request.headers && Object.keys(body.request.headers).length) {
        nodes.push(el("pre", {}, JSON.stringify(body.request.headers, null, 2)));
      }
      nodes.push(el("pre", {id: "result-body"}, JSON.stringify(body.request.body, null, 2)));
    }
    if (body.logs) nodes.push(el("p", {}, "Printed:"), el("pre", {id: "result-logs"}, body.logs));
    for (const finding of body.findings || []) {
      // A fix paybridge can make is a button; the finding's `fix` text then speaks to API users.
      const words = finding.action ? finding.problem : `${finding.problem} — ${finding.fix}`;
      const line = el("p", {class: "finding"}, `${finding.field}: ${words}`);
      if (finding.action) line.append(" ", actionButton(finding.action, line));
      nodes.push(line);
    }
    return nodes;
  }

  // A finding's fix that paybridge can make for the owner (creating a missing HubSpot property).
  function actionButton(action, line) {
    const label = action.body && action.body.name
      ? `Create the ${action.body.type} property ${action.body.name} in HubSpot`
      : "Fix it in HubSpot";
    const button = el("button", {type: "button", class: "small secondary finding-action"}, label);
    button.addEventListener("click", async () => {
      button.disabled = true;
      const answer = await paybridge.call(action.method, action.path, action.body);
      if (answer.status === 200 || answer.status === 201) {
        line.className = "finding-done";
        button.replaceWith(el("span", {}, "Created."));
      } else {
        button.disabled = false;
        button.after(el("span", {class: "error"}, ` ${answer.body.error.message}`));
      }
    });
    return button;
  }

  async function loadSamples() {
    const answer = await paybridge.call("GET", "/api/samples");
    if (answer.status === 200) samples = answer.body.samples;
    showSample();
  }

  function showSample() {
    const sample = samples[eventTypeSelect.value];
    eventBox.value = sample ? JSON.stringify(sample, null, 2) : "{}";
  }

  eventTypeSelect.addEventListener("change", () => {
    const recent = document.getElementById("recent-event");
    if (recent) recent.value = "";
    showSample();
  });

  const recentSelect = document.getElementById("recent-event");
  if (recentSelect) {
    recentSelect.addEventListener("change", async () => {
      if (!recentSelect.value) return showSample();
      const answer = await paybridge.call("GET", `/api/deliveries/${recentSelect.value}`);
      if (answer.status === 200 && answer.body.event) {
        eventBox.value = JSON.stringify(answer.body.event, null, 2);
      } else {
        eventBox.value = "{}";
      }
    });
  }

  // The template menu names the template the editor holds, or none once the code is changed.
  const templateSelect = document.getElementById("template");
  function syncTemplateMenu() {
    const current = editor.getValue();
    const held = Object.keys(templates).find((id) => templates[id].code === current);
    templateSelect.value = held || "";
  }
  syncTemplateMenu();
  editor.on("change", syncTemplateMenu);

  templateSelect.addEventListener("change", (event) => {
    const chosen = templates[event.target.value];
    if (!chosen) return;
    editor.setValue(chosen.code);
    // A new integration takes the template's event types; an existing one keeps its own.
    if (!integrationId) {
      const types = document.getElementById("event-types");
      for (const option of types.options) option.selected = chosen.event_types.includes(option.value);
    }
    if (chosen.event_types.length) {
      eventTypeSelect.value = chosen.event_types[0];
      showSample();
    }
  });

  document.getElementById("test-button").addEventListener("click", async () => {
    const payload = eventPayload();
    if (payload.problem) return showResult([el("p", {class: "error"}, payload.problem)], "error");
    const body = {code: editor.getValue(), event: payload.event};
    if (integrationId) body.integration_id = integrationId;
    clearMark();
    const answer = await paybridge.call("POST", "/api/transforms/test", body);
    if (answer.status !== 200) {
      return showResult([el("p", {class: "error"}, answer.body.error.message)], "error");
    }
    const kind = answer.body.error ? "error" : answer.body.skipped ? "skipped" : "ok";
    showResult(describeRun(answer.body), kind);
  });

  document.getElementById("send-test-button").addEventListener("click", async () => {
    const payload = eventPayload();
    if (payload.problem) return showResult([el("p", {class: "error"}, payload.problem)], "error");
    const token = document.getElementById("hubspot-token");
    const body = {code: editor.getValue(), event: payload.event};
    if (token && token.value.trim()) body.hubspot_token = token.value.trim();
    if (integrationId) body.integration_id = integrationId;
    clearMark();
    const answer = await paybridge.call("POST", "/console/send-test", body);
    if (answer.status !== 200) {
      return showResult([el("p", {class: "error"}, answer.body.error.message)], "error");
    }
    const nodes = describeRun(answer.body.result);
    const response = answer.body.response;
    if (response && response.error) {
      nodes.push(el("p", {class: "error"}, `HubSpot could not be reached: ${response.error}`));
    } else if (response) {
      nodes.push(el("p", {id: "hubspot-status"}, el("strong", {}, `HubSpot answered ${response.status}`)));
      nodes.push(el("pre", {id: "hubspot-body"}, typeof response.body === "string" ? response.body : JSON.stringify(response.body, null, 2)));
    }
    const ok = response && response.status && response.status < 300;
    showResult(nodes, ok ? "ok" : "error");
  });

  const saveButton = document.getElementById("save-button");
  saveButton.addEventListener("click", async () => {
    if (saveButton.disabled) return;
    saveButton.disabled = true;  // one click, one integration
    const saveResult = document.getElementById("save-result");
    const chosen = [...document.getElementById("event-types").selectedOptions].map((o) => o.value);
    const body = {code: editor.getValue(), event_types: chosen.length ? chosen : null};
    let answer;
    if (integrationId) {
      answer = await paybridge.call("PATCH", `/api/integrations/${integrationId}`, body);
    } else {
      body.name = document.getElementById("integration-name").value;
      const token = document.getElementById("hubspot-token").value.trim();
      if (token) body.hubspot_token = token;
      answer = await paybridge.call("POST", "/api/integrations", body);
    }
    if (answer.status !== 200 && answer.status !== 201) {
      const error = answer.body.error;
      const problem = (error.problems || [])[0];
      if (problem) markLine(problem.line);
      saveResult.replaceChildren(el("p", {class: "error", id: "save-error"}, error.message));
      saveResult.hidden = false;
      saveButton.disabled = false;
      return;
    }
    if (integrationId) {
      window.location.href = `/integrations/${integrationId}?message=${encodeURIComponent(`Saved as version ${answer.body.version}.`)}`;
      return;
    }
    saveResult.hidden = true;
    saveButton.textContent = "Created";
    createdId = answer.body.id;
    document.getElementById("webhook-url").textContent = answer.body.webhook_url;
    document.getElementById("signing-secret").textContent = answer.body.signing_secret;
    document.getElementById("open-integration").href = `/integrations/${answer.body.id}`;
    const oauth = document.getElementById("oauth-connect");
    if (oauth) {
      const id = encodeURIComponent(answer.body.id);
      oauth.href = `/connect/hubspot?integration_id=${id}&return_to=${encodeURIComponent(`/integrations/${answer.body.id}`)}`;
    }
    const created = document.getElementById("created");
    created.hidden = false;
    created.scrollIntoView();
  });

  // Dodo makes a signing secret for each endpoint; the owner pastes it here once created.
  let createdId = null;
  const dodoSecretButton = document.getElementById("dodo-secret-save");
  if (dodoSecretButton) {
    dodoSecretButton.addEventListener("click", async () => {
      const status = document.getElementById("dodo-secret-result");
      const secret = document.getElementById("dodo-secret").value.trim();
      const answer = await paybridge.call("PATCH", `/api/integrations/${createdId}`, {signing_secret: secret});
      status.className = answer.status === 200 ? "finding-done" : "error";
      status.textContent = answer.status === 200
        ? "Saved: paybridge now checks Dodo's signatures with it."
        : answer.body.error.message;
      if (answer.status === 200) document.getElementById("own-secret").hidden = true;
    });
  }

  loadSamples();
})();
