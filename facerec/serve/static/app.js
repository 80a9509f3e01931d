// The facerec page: identify a photo (faces boxed with names and scores), enroll, list and remove people.
// Everything goes through the /v1 API with the key typed in; nothing is stored but the key, for this tab only.
"use strict";

const $ = (id) => document.getElementById(id);

function key() {
  const value = $("key").value.trim();
  sessionStorage.setItem("facerec-key", value);
  return value;
}

// The one word for a face that matches no one enrolled, in the picture and in the list.
const NOT_RECOGNIZED = "not recognized";
const NO_KEY = "enter an API key";

function say(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

// Take off the page what an earlier answer showed (a refused key must not leave someone's results up).
function clearResults(peopleNote = NO_KEY) {
  clearPicture();
  $("enroll-result").textContent = "";
  $("people").replaceChildren(note(peopleNote));
}

function clearPicture() {
  $("faces").replaceChildren();
  const canvas = $("canvas");
  canvas.width = 1;
  canvas.height = 1;
  delete canvas.dataset.labels;
}

function note(text) {
  const item = document.createElement("li");
  item.className = "note";
  item.textContent = text;
  return item;
}

function count(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

async function api(method, path, body) {
  const secret = key();
  if (!secret) {
    clearResults();
    throw new Error(NO_KEY);
  }
  const response = await fetch(path, { method, body, headers: { "X-API-Key": secret } });
  const data = await response.json().catch(() => ({ detail: response.statusText }));
  if (response.status === 401) clearResults(`the API key was refused: ${NO_KEY}`);
  if (!response.ok) {
    throw new Error(`${response.status} ${data.error || ""}: ${data.detail || ""}`);
  }
  return data;
}

function overlaps(a, b) {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

// Where each label goes: above its box, else below it, else inside its top edge, else the nearest free
// place further down; never over another label, never off the picture.
function placeLabels(boxes, sizes, canvasWidth, canvasHeight) {
  const placed = [];
  boxes.forEach(([x1, y1, , y2], n) => {
    const { width, height } = sizes[n];
    const x = Math.max(0, Math.min(x1, canvasWidth - width));
    const fits = (y) => y >= 0 && y + height <= canvasHeight;
    const free = (y) => placed.every((other) => !overlaps({ x, y, width, height }, other));
    const tries = [y1 - height, y2, y1].filter(fits);
    for (let y = Math.max(0, y1 - height); y + height <= canvasHeight; y += 1) tries.push(y);
    const y = tries.find(free) ?? Math.max(0, Math.min(y1 - height, canvasHeight - height));
    placed.push({ x, y, width, height });
  });
  return placed;
}

function faceLabel(face) {
  return face.name ? `${face.name} ${face.score.toFixed(2)}` : NOT_RECOGNIZED;
}

function drawFaces(image, faces) {
  const canvas = $("canvas");
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  context.lineWidth = Math.max(2, Math.round(canvas.width / 200));
  const fontSize = Math.max(12, Math.round(canvas.width / 30));
  context.font = `${fontSize}px sans-serif`;
  const colour = (face) => (face.name ? "#19c24a" : "#e53935");
  for (const face of faces) {
    const [x1, y1, x2, y2] = face.face.box;
    context.strokeStyle = colour(face);
    context.strokeRect(x1, y1, x2 - x1, y2 - y1);
  }
  const labels = faces.map(faceLabel);
  const sizes = labels.map((label) => ({ width: context.measureText(label).width + 6, height: fontSize + 4 }));
  const places = placeLabels(faces.map((face) => face.face.box), sizes, canvas.width, canvas.height);
  places.forEach((place, n) => {
    context.fillStyle = colour(faces[n]);
    context.fillRect(place.x, place.y, place.width, place.height);
    context.fillStyle = "#fff";
    context.fillText(labels[n], place.x + 3, place.y + place.height - 4);
  });
  canvas.dataset.labels = JSON.stringify(places.map((place, n) => ({ ...place, text: labels[n] })));
}

function describeFace(face) {
  if (face.name) {
    return `${face.name} (score ${face.score.toFixed(3)}, threshold ${face.threshold.toFixed(3)})`;
  }
  const why = face.reason && face.reason !== "below threshold" ? [face.reason] : [];
  if (face.score != null) why.push(`best score ${face.score.toFixed(3)}, threshold ${face.threshold.toFixed(3)}`);
  return why.length ? `${NOT_RECOGNIZED} (${why.join("; ")})` : NOT_RECOGNIZED;
}

async function identify(event) {
  event.preventDefault();
  const file = $("identify-file").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("image", file);
  form.append("all_faces", "true");
  say("identifying…");
  clearPicture();
  try {
    const result = await api("POST", "/v1/identify", form);
    const image = new Image();
    image.onload = () => { drawFaces(image, result.faces); URL.revokeObjectURL(image.src); };
    image.src = URL.createObjectURL(file);
    for (const face of result.faces) {
      const item = document.createElement("li");
      item.className = face.name ? "known" : "not-recognized";
      item.textContent = describeFace(face);
      $("faces").append(item);
    }
    say(count(result.faces.length, "face", "faces"));
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
    $("enroll-result").textContent = `enrolled ${result.name}: ${count(result.faces_added, "new face", "new faces")}`;
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
    $("people").replaceChildren(...(items.length ? items : [note("no one enrolled yet")]));
    say(`${count(result.count, "person", "people")} enrolled`);
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
  if ($("key").value.trim()) {
    listPeople();
  } else {
    clearResults();
  }
});
