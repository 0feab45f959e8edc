// Shared by both pages: element lookup, JSON requests with the reader token, the token form.
"use strict";

const $ = (id) => document.getElementById(id);

// Every value from the server that goes into HTML goes through this (quotes included: it is safe in attributes).
function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
const TOKEN_KEY = "digits.readToken";

// GET/POST a URL relative to the page and return its JSON; a non-2xx answer throws an Error
// carrying the server's message and the status (401 means: this server wants PREDICTIONS_TOKEN).
function withToken(headers = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { ...headers, Authorization: `Bearer ${token}` } : headers;
}

async function fetchJSON(url, options = {}) {
  const headers = withToken({ Accept: "application/json", ...(options.headers || {}) });
  const response = await fetch(url, { ...options, headers });
  let body = null;
  try { body = await response.json(); } catch (e) { /* not JSON */ }
  if (!response.ok) {
    const error = new Error((body && body.message) || `the server answered ${response.status}`);
    error.status = response.status;
    error.body = body;
    throw error;
  }
  return body;
}

// An <img> of a URL that may need the reader token (an img tag cannot send one): fetched, then shown.
async function showImage(img, url) {
  const response = await fetch(url, { headers: withToken() });
  if (!response.ok) {
    img.removeAttribute("src");
    img.alt = response.status === 401 ? "(hidden: this server needs the reader token)" : "(not available)";
    return;
  }
  const src = URL.createObjectURL(await response.blob());
  img.onload = () => URL.revokeObjectURL(src);
  img.src = src;
}

// Show the reader-token form after ``status`` (history and stats are private where PREDICTIONS_READ=token).
function askForToken(status, onToken) {
  let form = $("token-form");
  if (!form) {
    form = document.createElement("form");
    form.id = "token-form";
    form.className = "row";
    form.innerHTML = '<label for="token">This server keeps its history private. Reader token:</label>' +
      '<input id="token" type="password" autocomplete="off" required> <button type="submit">Use token</button>';
    status.after(form);
  }
  form.hidden = false;
  form.onsubmit = (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    form.hidden = true;
    onToken();
  };
}
