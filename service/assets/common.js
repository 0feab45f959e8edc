// Shared by both pages: element lookup, JSON requests with the reader token, the token form.
"use strict";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "digits.readToken";

// GET/POST a URL relative to the page and return its JSON; a non-2xx answer throws an Error
// carrying the server's message and the status (401 means: this server wants PREDICTIONS_TOKEN).
async function fetchJSON(url, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(url, { ...options, headers });
  let body = null;
  try { body = await response.json(); } catch (e) { /* not JSON */ }
  if (!response.ok) {
    const error = new Error((body && body.message) || `the server answered ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

// Show the reader-token form (history and stats are private where PREDICTIONS_READ=token).
function askForToken(onToken) {
  const form = $("token-form");
  form.hidden = false;
  form.onsubmit = (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    form.hidden = true;
    onToken();
  };
}
