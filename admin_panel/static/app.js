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

  function rerender(jobId, body, contentType) {
    statusLine.textContent = "Making it again…";
    var headers = { "X-CSRF-Token": csrf };
    if (contentType) headers["Content-Type"] = contentType;  // FormData sets its own boundary
    fetch("/api/v1/jobs/" + jobId + "/render?download=1", {
      method: "POST", credentials: "same-origin", body: body, headers: headers
    }).then(function (response) {
      if (!response.ok) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          throw new Error(body.message || ("HTTP " + response.status));
        });
      }
      var name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
      return response.blob().then(function (blob) {
        var link = document.createElement("a");
        link.href = URL.createObjectURL(blob);
        link.download = name ? name[1] : "cutout";
        document.body.appendChild(link);
        link.click();
        link.remove();
        statusLine.textContent = "Done: " + link.download;
        refreshBalance();
      });
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

  function watch(row) {
    var delay = 700;
    function poll() {
      api("/jobs/" + row.dataset.job).then(function (job) {
        render(row, job);
        if (FINISHED[job.status]) { refreshBalance(); return; }
        delay = Math.min(delay * 1.3, 5000);
        setTimeout(poll, delay);
      }).catch(function () { setTimeout(poll, 5000); });
    }
    setTimeout(poll, delay);
  }

  function addRow(job, name, mode) {
    var empty = tbody.querySelector("tr.empty");
    if (empty) empty.remove();
    var row = document.createElement("tr");
    row.dataset.job = job.id;
    ["name", "mode", "status", "when", "download"].forEach(function (cls) {
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

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var data = new FormData(form);
    if (!data.get("crop")) data.delete("crop");
    var file = data.get("image");
    statusLine.textContent = "Uploading…";
    api("/jobs", { method: "POST", body: data }).then(function (job) {
      statusLine.textContent = "Queued. You can stay here and watch it.";
      watch(addRow(job, file && file.name ? file.name : job.id.slice(0, 8), data.get("mode")));
      refreshBalance();
      form.reset();
    }).catch(function (error) {
      statusLine.textContent = error.message;
    });
  });

  tbody.querySelectorAll("tr[data-job]").forEach(function (row) {
    if (!FINISHED[row.dataset.status]) watch(row);
    else if (row.dataset.renderable) addChanges(row);
  });
})();
