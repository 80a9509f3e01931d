// The facerec page: identify a photo (faces boxed with names and scores), enroll, list and remove people.
// Everything goes through the /v1 API with the key typed in; nothing is stored but the key, for this tab only.
"use strict";

const $ = (id) => document.getElementById(id);

function key() {
  const value = $("key").value.trim();
  sessionStorage.setItem("facerec-key", value);
  return value;
}

function say(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

async function api(method, path, body) {
  const response = await fetch(path, { method, body, headers: { "X-API-Key": key() } });
  const data = await response.json().catch(() => ({ detail: response.statusText }));
  if (!response.ok) {
    throw new Error(`${response.status} ${data.error || ""}: ${data.detail || ""}`);
  }
  return data;
}

function drawFaces(image, faces) {
  const canvas = $("canvas");
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  const line = Math.max(2, Math.round(canvas.width / 200));
  context.lineWidth = line;
  context.font = `${Math.max(12, Math.round(canvas.width / 30))}px sans-serif`;
  for (const face of faces) {
    const [x1, y1, x2, y2] = face.face.box;
    const label = face.name ? `${face.name} ${face.score.toFixed(2)}` : `unknown ${(face.score ?? 0).toFixed(2)}`;
    context.strokeStyle = face.name ? "#19c24a" : "#e53935";
    context.strokeRect(x1, y1, x2 - x1, y2 - y1);
    const height = parseInt(context.font, 10) + 4;
    const width = context.measureText(label).width + 6;
    context.fillStyle = context.strokeStyle;
    context.fillRect(x1, Math.max(0, y1 - height), width, height);
    context.fillStyle = "#fff";
    context.fillText(label, x1 + 3, Math.max(height - 4, y1 - 4));
  }
}

async function identify(event) {
  event.preventDefault();
  const file = $("identify-file").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("image", file);
  form.append("all_faces", "true");
  say("identifying…");
  $("faces").replaceChildren();
  try {
    const result = await api("POST", "/v1/identify", form);
    const image = new Image();
    image.onload = () => { drawFaces(image, result.faces); URL.revokeObjectURL(image.src); };
    image.src = URL.createObjectURL(file);
    for (const face of result.faces) {
      const item = document.createElement("li");
      item.className = face.name ? "known" : "unknown";
      item.textContent = face.name
        ? `${face.name} (score ${face.score.toFixed(3)}, threshold ${face.threshold.toFixed(3)})`
        : `not recognized (best score ${(face.score ?? 0).toFixed(3)})`;
      $("faces").append(item);
    }
    say(`${result.faces.length} face(s)`);
  } catch (error) {
    say(error.message, true);
  }
}

async function enroll(event) {
  event.preventDefault();
  const form = new FormData();
  form.append("name", $("enroll-name").value);
  for (const file of $("enroll-files").files) form.append("images", file);
  $("enroll-result").textContent = "enrolling…";
  try {
    const result = await api("POST", "/v1/people", form);
    $("enroll-result").textContent = `enrolled ${result.name}: ${result.faces_added} new face(s)`;
    $("enroll-result").className = "";
    await listPeople();
  } catch (error) {
    $("enroll-result").textContent = error.message;
    $("enroll-result").className = "error";
  }
}

async function listPeople() {
  try {
    const result = await api("GET", "/v1/people");
    const items = result.people.map((person) => {
      const item = document.createElement("li");
      item.textContent = `${person.name} (${person.faces} face${person.faces === 1 ? "" : "s"})`;
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Remove";
      button.addEventListener("click", () => removePerson(person.name));
      item.append(button);
      return item;
    });
    $("people").replaceChildren(...items);
    say(`${result.count} people enrolled`);
  } catch (error) {
    say(error.message, true);
  }
}

async function removePerson(name) {
  if (!window.confirm(`Remove ${name} and all their faces?`)) return;
  try {
    await api("DELETE", `/v1/people/${encodeURIComponent(name)}`);
    await listPeople();
  } catch (error) {
    say(error.message, true);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("key").value = sessionStorage.getItem("facerec-key") || "";
  $("identify-form").addEventListener("submit", identify);
  $("enroll-form").addEventListener("submit", enroll);
  $("refresh").addEventListener("click", listPeople);
  $("key").addEventListener("change", listPeople);
});
