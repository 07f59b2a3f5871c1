// The user's page: upload through the API, then poll the job until it finishes.
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var form = document.getElementById("upload-form");
  var statusLine = document.getElementById("upload-status");
  var tbody = document.querySelector("#history tbody");
  var FINISHED = { done: true, failed: true, cancelled: true };

  function api(path, options) {
    options = options || {};
    options.credentials = "same-origin";
    options.headers = Object.assign({ "X-CSRF-Token": csrf, Accept: "application/json" }, options.headers || {});
    return fetch("/api/v1" + path, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok) throw new Error(body.message || ("HTTP " + response.status));
        return body;
      });
    });
  }

  function badge(status) {
    var span = document.createElement("span");
    span.className = "badge " + status;
    span.textContent = status;
    return span;
  }

  function render(row, job) {
    row.dataset.status = job.status;
    var cell = row.querySelector(".status");
    cell.replaceChildren(badge(job.status));
    if (job.error) {
      var err = document.createElement("span");
      err.className = "error-text";
      err.textContent = " " + job.error;
      cell.appendChild(err);
    }
    var download = row.querySelector(".download");
    download.replaceChildren();
    var thumb = row.querySelector(".thumb");
    if (job.status === "done" && thumb && !thumb.querySelector("img")) {
      var image = document.createElement("img");
      image.src = "/api/v1/jobs/" + job.id + "/thumbnail";
      image.alt = "Cut-out";
      image.loading = "lazy";
      image.className = "checker";
      thumb.appendChild(image);
    }
    if (job.status === "done" && job.result_url) {
      var link = document.createElement("a");
      link.href = job.result_url + "?download=1";
      link.textContent = "Download";
      link.setAttribute("download", "");
      download.appendChild(link);
      if (job.render_url) addChanges(row);
    }
  }

  // The same photo made again from its kept mask (POST /api/v1/jobs/<id>/render): no model run.
  // "Product shot": the subject at 80% of the frame, centred on white.
  var CHANGES = [["White", { mode: "color", bg_color: "#ffffff" }], ["Sticker", { mode: "sticker" }],
                 ["Cropped", { crop: true }], ["Transparent", { mode: "png", crop: false, scale: 0 }],
                 ["Product shot", { mode: "color", bg_color: "#ffffff", crop: false, scale: 80, position: "center" }]];

  function addChanges(row) {
    var cell = row.querySelector(".download");
    CHANGES.forEach(function (change) {
      cell.appendChild(document.createTextNode(" "));
      cell.appendChild(changeButton(change[0], function () {
        rerender(row.dataset.job, JSON.stringify(change[1]), "application/json");
      }));
    });
    // "On a picture…": the subject on a picture of the person's own (sent as bg_image).
    var picker = document.createElement("input");
    picker.type = "file";
    picker.accept = "image/*";
    picker.hidden = true;
    picker.className = "background-picker";
    picker.addEventListener("change", function () {
      if (!picker.files.length) return;
      var body = new FormData();
      body.append("bg_image", picker.files[0]);
      rerender(row.dataset.job, body, null);
      picker.value = "";
    });
    cell.appendChild(document.createTextNode(" "));
    cell.appendChild(changeButton("On a picture…", function () { picker.click(); }));
    cell.appendChild(picker);
  }

  function changeButton(label, onClick) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "rerender";
    button.textContent = label;
    button.addEventListener("click", onClick);
    return button;
  }

  // POST render: the new file as {blob, name, price}, or an Error with the server's words.
  function remake(jobId, body, contentType) {
    var headers = { "X-CSRF-Token": csrf };
    if (contentType) headers["Content-Type"] = contentType;  // FormData sets its own boundary
    return fetch("/api/v1/jobs/" + jobId + "/render?download=1", {
      method: "POST", credentials: "same-origin", body: body, headers: headers
    }).then(function (response) {
      if (!response.ok) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          throw new Error(body.message || ("HTTP " + response.status));
        });
      }
      var name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
      var price = Number(response.headers.get("X-Credits-Charged") || 0);
      return response.blob().then(function (blob) {
        refreshBalance();
        return { blob: blob, name: name ? name[1] : "cutout", price: price };
      });
    });
  }

  // From the history: the remade file is downloaded at once.
  function rerender(jobId, body, contentType) {
    statusLine.textContent = "Making it again…";
    remake(jobId, body, contentType).then(function (file) {
      var link = document.createElement("a");
      link.href = URL.createObjectURL(file.blob);
      link.download = file.name;
      document.body.appendChild(link);
      link.click();
      link.remove();
      statusLine.textContent = "Done: " + file.name;
    }).catch(function (error) { statusLine.textContent = error.message; });
  }

  function refreshBalance() {
    api("/me").then(function (me) {
      document.getElementById("balance-total").textContent = me.balance.total;
      document.getElementById("balance-detail").textContent =
        me.balance.bonus + " bonus + " + me.balance.paid + " paid credits";
      form.querySelector("button[type=submit]").textContent = "Upload · " + me.balance.total + " credit(s) left";
    }).catch(function () {});
  }

  // The job until it is finished: while it is in line, a request a second (its place changes);
  // once a worker has it, each request waits up to 20 s for the end (GET ?wait=20).
  function watch(row, card) {
    function poll() {
      var waiting = row.dataset.status === "queued" ? "" : "?wait=20";
      api("/jobs/" + row.dataset.job + waiting).then(function (job) {
        render(row, job);
        if (card) showCard(card, job);
        if (FINISHED[job.status]) { refreshBalance(); return; }
        setTimeout(poll, 1000);
      }).catch(function () { setTimeout(poll, 5000); });
    }
    poll();
  }

  function addRow(job, name, mode) {
    var empty = tbody.querySelector("tr.empty");
    if (empty) empty.remove();
    var row = document.createElement("tr");
    row.dataset.job = job.id;
    ["thumb", "name", "mode", "status", "when", "download"].forEach(function (cls) {
      var td = document.createElement("td");
      td.className = cls;
      row.appendChild(td);
    });
    row.querySelector(".name").textContent = name;
    row.querySelector(".mode").textContent = mode;
    row.querySelector(".when").textContent = "just now";
    tbody.prepend(row);
    render(row, job);
    return row;
  }

  // --- photos in: picked, dropped or pasted; each file is a job with a card of its own ---

  var results = document.getElementById("results");
  var picker = form.querySelector("input[type=file]");
  var MAX_BYTES = Number(form.dataset.maxBytes);
  var ACCEPTED = form.dataset.types.split(" ");

  // The server's own rules and words for the same refusals (core/images.py, given by the page).
  // A file the browser cannot name (a HEIC on some systems) is left for the server to judge.
  function refusal(file) {
    if (file.type && ACCEPTED.indexOf(file.type) === -1) return form.dataset.notReadable;
    if (file.size > MAX_BYTES) {
      return "The file is " + (file.size / 1e6).toFixed(1) + " MB; the limit is " + form.dataset.maxMb + " MB.";
    }
    return null;
  }

  function submitFiles(files) {
    var list = Array.prototype.slice.call(files || []);
    if (!list.length) return;
    list.forEach(function (file) {
      var card = addCard(file);
      var problem = refusal(file);
      if (problem) { failCard(card, problem); return; }
      var data = new FormData(form);
      data.delete("image");
      if (!data.get("crop")) data.delete("crop");
      data.append("image", file, file.name || "pasted.png");
      api("/jobs", { method: "POST", body: data }).then(function (job) {
        card.dataset.job = job.id;
        watch(addRow(job, file.name || "pasted image", data.get("mode")), card);
        refreshBalance();
      }).catch(function (error) { failCard(card, error.message); });
    });
    statusLine.textContent = list.length === 1 ? "Sending your photo…" : "Sending " + list.length + " photos…";
    form.reset();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    submitFiles(picker.files);
  });
  picker.addEventListener("change", function () { submitFiles(picker.files); });
  form.addEventListener("dragover", function (event) {
    event.preventDefault();
    form.classList.add("dragging");
  });
  form.addEventListener("dragleave", function () { form.classList.remove("dragging"); });
  form.addEventListener("drop", function (event) {
    event.preventDefault();
    form.classList.remove("dragging");
    submitFiles(event.dataTransfer && event.dataTransfer.files);
  });
  document.addEventListener("paste", function (event) {
    var files = event.clipboardData && event.clipboardData.files;
    if (files && files.length) { event.preventDefault(); submitFiles(files); }
  });

  // --- a card per photo: the original while it runs, then the cut-out beside it ---

  function addCard(file) {
    var card = document.createElement("article");
    card.className = "card result";
    var figure = document.createElement("div");
    figure.className = "picture checker";
    var picture = document.createElement("img");
    picture.alt = "Your photo";
    picture.src = URL.createObjectURL(file);
    figure.appendChild(picture);
    var caption = document.createElement("p");
    caption.className = "caption";
    caption.textContent = (file.name || "Pasted image") + " · sending…";
    card.appendChild(figure);
    card.appendChild(caption);
    results.prepend(card);
    return card;
  }

  function failCard(card, message) {
    card.classList.add("failed");
    card.querySelector(".caption").textContent = message;
    statusLine.textContent = message;
  }

  function showCard(card, job) {
    var caption = card.querySelector(".caption");
    if (job.status === "queued") caption.textContent = "In line" + (job.position ? ": #" + job.position : "") + "…";
    else if (job.status === "processing") caption.textContent = "Removing the background…";
    else if (job.status === "failed") {
      failCard(card, (job.error || "It could not be processed") + ". The credit is back.");
    } else if (job.status === "done" && !card.classList.contains("done")) {
      showResult(card, job);
      statusLine.textContent = "Done.";
    }
  }

  // The cut-out where the photo was, the original a toggle away, Download, and the same photo
  // made again with other options (shown in place; the Download link follows what is shown).
  function showResult(card, job) {
    card.classList.add("done");
    var caption = card.querySelector(".caption");
    var picture = card.querySelector("img");
    var original = picture.src;
    var shown = "/api/v1/jobs/" + job.id + "/result";
    var download = document.createElement("a");
    download.href = shown + "?download=1";
    download.setAttribute("download", "");
    download.textContent = "Download";
    var toggle = document.createElement("button");
    toggle.type = "button";
    toggle.className = "toggle";
    toggle.setAttribute("aria-pressed", "false");

    function show(src, note) {
      picture.alt = "The cut-out";
      picture.classList.add("cutout");
      picture.src = src;
      toggle.textContent = "Show the original";
      toggle.setAttribute("aria-pressed", "false");
      picture.addEventListener("load", function once() {
        picture.removeEventListener("load", once);
        caption.textContent = "Done · " + picture.naturalWidth + " × " + picture.naturalHeight + " px" + note;
      });
    }
    toggle.addEventListener("click", function () {
      var before = picture.src !== original;
      picture.src = before ? original : shown;
      toggle.textContent = before ? "Show the cut-out" : "Show the original";
      toggle.setAttribute("aria-pressed", before ? "true" : "false");
    });
    show(shown, job.first_frame_only ? " · the animation's first frame" : "");
    card.appendChild(toggle);
    card.appendChild(document.createTextNode(" "));
    card.appendChild(download);
    if (!job.render_url) return;

    function again(body, contentType) {
      caption.textContent = "Making it again…";
      remake(job.id, body, contentType).then(function (file) {
        if (shown.indexOf("blob:") === 0) URL.revokeObjectURL(shown);
        shown = URL.createObjectURL(file.blob);
        download.href = shown;
        download.download = file.name;
        show(shown, file.price ? " · " + file.price + " credit(s)" : "");
      }).catch(function (error) { caption.textContent = error.message; });
    }
    var changes = document.createElement("div");
    changes.className = "changes";
    changes.setAttribute("role", "group");
    changes.setAttribute("aria-label", "Make it again");
    CHANGES.forEach(function (change) {
      changes.appendChild(changeButton(change[0], function () {
        again(JSON.stringify(change[1]), "application/json");
      }));
    });
    var colour = document.createElement("input");
    colour.type = "color";
    colour.value = job.options && job.options.bg_color || "#ffffff";
    colour.setAttribute("aria-label", "Background colour");
    changes.appendChild(colour);
    changes.appendChild(changeButton("On this colour", function () {
      again(JSON.stringify({ mode: "color", bg_color: colour.value }), "application/json");
    }));
    card.appendChild(changes);
  }

  tbody.querySelectorAll("tr[data-job]").forEach(function (row) {
    if (!FINISHED[row.dataset.status]) watch(row);
    else if (row.dataset.renderable) addChanges(row);
  });
})();
