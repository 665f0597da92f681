/* noisylabels review page: plain JavaScript, no framework, no network. Data: window.NL_REVIEW (data.js). */
(function () {
  "use strict";
  var D = window.NL_REVIEW;
  var $ = function (id) { return document.getElementById(id); };
  if (!D || !D.cols) {
    $("progress").textContent = "data.js is missing or damaged: build the page again with 'noisylabels review RUN'.";
    return;
  }
  var PAGE = 200;
  var names = D.class_names, C = names.length, cols = D.cols, N = cols.index.length;
  var KEY = "noisylabels-review:" + D.run_id;
  var rowOf = {};
  for (var i = 0; i < N; i++) rowOf[cols.index[i]] = i;
  var decisions = {}, storageOk = true;
  try {
    var saved = window.localStorage.getItem(KEY);
    if (saved) decisions = JSON.parse(saved) || {};
  } catch (e) { storageOk = false; }
  var nFlagged = 0;
  for (i = 0; i < N; i++) nFlagged += cols.flagged[i];
  var st = { flagged: nFlagged > 0, given: -1, suggested: -1, pair: null, decision: "", search: "", page: 0 };
  var view = [], focus = 0;

  function save() {
    if (!storageOk) return;
    try { window.localStorage.setItem(KEY, JSON.stringify(decisions)); }
    catch (e) { storageOk = false; showNote("Decisions cannot be kept in this browser (localStorage refused): export them before closing."); }
  }
  function showNote(text) { var n = $("note"); n.hidden = false; n.textContent = text; }
  function esc(s) { return String(s).replace(/[&<>"']/g, function (c) { return "&#" + c.charCodeAt(0) + ";"; }); }
  function classOptions(withAny) {
    var h = withAny ? '<option value="-1">any</option>' : "";
    for (var c = 0; c < C; c++) h += '<option value="' + c + '">' + (String(names[c]) === String(c) ? c : c + ": " + esc(names[c])) + "</option>";
    return h;
  }
  var OPTIONS = classOptions(false);

  // -- filtering -----------------------------------------------------------------------------------
  function matches(r) {
    if (st.flagged && !cols.flagged[r]) return false;
    if (st.pair) { if (cols.given[r] !== st.pair[0] || cols.suggested[r] !== st.pair[1]) return false; }
    if (st.given >= 0 && cols.given[r] !== st.given) return false;
    if (st.suggested >= 0 && cols.suggested[r] !== st.suggested) return false;
    if (st.decision) {
      var d = decisions[cols.index[r]];
      if (st.decision === "none" ? d : st.decision === "any" ? !d : !d || d.d !== st.decision) return false;
    }
    if (st.search) {
      var q = st.search, hit = String(cols.index[r]) === q;
      if (!hit && cols.path) hit = cols.path[r].toLowerCase().indexOf(q.toLowerCase()) >= 0;
      if (!hit) return false;
    }
    return true;
  }
  function applyFilters() {
    view = [];
    for (var r = 0; r < N; r++) if (matches(r)) view.push(r);
    var pages = Math.max(1, Math.ceil(view.length / PAGE));
    st.page = 0;
    st.page = Math.min(st.page, pages - 1);
    focus = 0;
    render();
  }

  // -- cards -----------------------------------------------------------------------------------------
  var T = D.thumbs, S = 96;
  function thumbStyle(r) {
    if (!T || r >= T.count) return null;
    var sheet = Math.floor(r / T.per_sheet), k = r % T.per_sheet;
    var scale = S / Math.max(T.tile_w, T.tile_h);
    var rowsInSheet = Math.ceil(Math.min(T.per_sheet, T.count - sheet * T.per_sheet) / T.columns);
    return "background-image:url('" + T.sheets[sheet] + "');background-size:" + (T.columns * T.tile_w * scale) + "px " +
      (rowsInSheet * T.tile_h * scale) + "px;background-position:-" + ((k % T.columns) * T.tile_w * scale) + "px -" +
      (Math.floor(k / T.columns) * T.tile_h * scale) + "px;width:" + (T.tile_w * scale) + "px;height:" + (T.tile_h * scale) + "px";
  }
  function cardHtml(r) {
    var idx = cols.index[r], g = cols.given[r], s = cols.suggested[r];
    var style = thumbStyle(r);
    var h = '<div class="card' + (cols.flagged[r] ? " flagged" : "") + '" data-index="' + idx + '" data-row="' + r + '">';
    h += style ? '<div class="thumb" style="' + style + '"></div>' : '<div class="thumb nothumb">no image</div>';
    h += '<div>#' + idx + (cols.flagged[r] ? " &middot; flagged" : "") + "</div>";
    if (cols.path) h += '<div class="path">' + esc(cols.path[r]) + "</div>";
    h += '<div class="lbl">given <b>' + esc(names[g]) + "</b> &rarr; suggested <b>" + esc(names[s]) + "</b> (" +
      cols.sprob[r].toFixed(2) + ")</div>";
    h += "<div>label quality " + cols.quality[r].toFixed(3) + (cols.true ? " &middot; true " + esc(names[cols["true"][r]]) : "") + "</div>";
    h += '<div class="actions"><button type="button" data-act="keep">keep</button>' +
      '<button type="button" data-act="relabel">relabel</button><select class="relabel-to">' + OPTIONS + "</select>" +
      '<button type="button" data-act="exclude">exclude</button><button type="button" data-act="unsure">unsure</button></div>';
    h += '<div class="dec"></div></div>';
    return h;
  }
  function paintCard(el) {
    var r = +el.getAttribute("data-row"), d = decisions[cols.index[r]];
    el.className = el.className.replace(/ d-\w+/g, "") + (d ? " d-" + d.d : "");
    var sel = el.querySelector("select");
    sel.value = String(d && d.d === "relabel" ? d.l : cols.suggested[r]);
    var btns = el.querySelectorAll("button[data-act]");
    for (var b = 0; b < btns.length; b++) btns[b].classList.toggle("on", !!d && btns[b].getAttribute("data-act") === d.d);
    el.querySelector(".dec").textContent = !d ? "" : d.d === "relabel" ? "relabel to " + names[d.l] : d.d;
  }
  function render() {
    var start = st.page * PAGE, rows = view.slice(start, start + PAGE), h = [];
    for (var k = 0; k < rows.length; k++) h.push(cardHtml(rows[k]));
    var grid = $("grid");
    grid.innerHTML = h.join("");
    var cards = grid.children;
    for (k = 0; k < cards.length; k++) paintCard(cards[k]);
    var pages = Math.max(1, Math.ceil(view.length / PAGE));
    $("page-info").textContent = "page " + (st.page + 1) + " of " + pages + " \u00b7 " + view.length + " rows in view" +
      (view.length ? " (" + (start + 1) + "\u2013" + (start + rows.length) + ")" : "");
    setFocus(Math.min(focus, cards.length - 1), false);
    progress();
    markMatrix();
  }
  function progress() {
    var total = 0, inView = 0, flaggedDone = 0;
    for (var key in decisions) if (Object.prototype.hasOwnProperty.call(decisions, key)) {
      total++;
      var r = rowOf[key];
      if (r !== undefined && cols.flagged[r]) flaggedDone++;
    }
    for (var k = 0; k < view.length; k++) if (decisions[cols.index[view[k]]]) inView++;
    $("progress").textContent = "decided " + flaggedDone + " of " + nFlagged + " flagged \u00b7 " + inView + " of " +
      view.length + " in this view \u00b7 " + total + " decisions in all (" + N + " rows)";
  }
  function setFocus(k, scroll) {
    var cards = $("grid").children;
    var old = $("grid").querySelector(".card.focus");
    if (old) old.classList.remove("focus");
    if (k < 0 || !cards.length) { focus = 0; return; }
    focus = k;
    cards[k].classList.add("focus");
    if (scroll && cards[k].scrollIntoView) cards[k].scrollIntoView({ block: "nearest" });
  }
  function decide(el, act, label) {
    var r = +el.getAttribute("data-row"), idx = cols.index[r];
    if (act === "clear") delete decisions[idx];
    else if (act === "relabel") decisions[idx] = { d: "relabel", l: label === undefined ? +el.querySelector("select").value : label };
    else decisions[idx] = { d: act };
    save();
    paintCard(el);
    progress();
  }
  function move(step) {
    var cards = $("grid").children, k = focus + step;
    if (k >= cards.length) { if (!gotoPage(st.page + 1)) return; k = 0; }
    else if (k < 0) { if (!gotoPage(st.page - 1)) return; k = $("grid").children.length - 1; }
    setFocus(k, true);
  }
  function gotoPage(p) {
    var pages = Math.max(1, Math.ceil(view.length / PAGE));
    if (p < 0 || p >= pages) return false;
    st.page = p; focus = 0; render(); window.scrollTo(0, 0);
    return true;
  }

  // -- confusion matrix and class summary ------------------------------------------------------------
  function buildMatrix() {
    var m = [], g, s;
    for (g = 0; g < C; g++) { m.push([]); for (s = 0; s < C; s++) m[g].push(0); }
    for (var r = 0; r < N; r++) if (cols.flagged[r]) m[cols.given[r]][cols.suggested[r]]++;
    var h = "<tr><th></th>";
    for (s = 0; s < C; s++) h += '<th title="' + esc(names[s]) + '">' + esc(String(names[s]).slice(0, 4)) + "</th>";
    h += "</tr>";
    for (g = 0; g < C; g++) {
      h += '<tr><th title="' + esc(names[g]) + '">' + esc(String(names[g]).slice(0, 10)) + "</th>";
      for (s = 0; s < C; s++) {
        var v = m[g][s];
        if (g === s) h += '<td class="diag">' + (v || "") + "</td>";
        else if (v) h += '<td class="cell" data-g="' + g + '" data-s="' + s + '" title="given ' + esc(names[g]) + " \u2192 suggested " +
          esc(names[s]) + '" style="background:rgba(220,80,60,' + Math.min(0.85, 0.12 + v / 20) + ')">' + v + "</td>";
        else h += "<td></td>";
      }
      h += "</tr>";
    }
    $("matrix").innerHTML = h;
  }
  function markMatrix() {
    var cells = $("matrix").querySelectorAll("td.cell");
    for (var k = 0; k < cells.length; k++) {
      var c = cells[k];
      c.classList.toggle("sel", !!st.pair && +c.getAttribute("data-g") === st.pair[0] && +c.getAttribute("data-s") === st.pair[1]);
    }
    $("pair-filter").hidden = !st.pair;
    if (st.pair) $("pair-text").textContent = names[st.pair[0]] + " \u2192 " + names[st.pair[1]];
  }
  function classSummary() {
    var cs = D.class_summary || {}, h = "", s = D.summary || {};
    var facts = [];
    if (s.noise_rate_estimated !== undefined) facts.push("estimated noise " + (100 * s.noise_rate_estimated).toFixed(1) + "%");
    if (s.num_label_issues !== undefined) facts.push(s.num_label_issues + " flagged");
    if (s.detector) facts.push("detector " + esc(s.detector));
    if (facts.length) h += '<p class="hint">' + facts.join(" \u00b7 ") + "</p>";
    if (cs.per_class && cs.per_class.length) {
      h += '<table class="cls"><tr><th>class</th><th>samples</th><th>flagged</th><th>est. noise</th></tr>';
      cs.per_class.forEach(function (p) {
        h += "<tr><td>" + esc(p.name) + "</td><td>" + p.samples + "</td><td>" + p.flagged + "</td><td>" +
          (100 * p.noise_rate_estimated).toFixed(1) + "%</td></tr>";
      });
      h += "</table>";
    }
    if (cs.confused_pairs && cs.confused_pairs.length) {
      h += "<h2 style='margin-top:8px'>Top confused pairs</h2><table class='cls'><tr><th>given \u2192 suggested</th><th>count</th></tr>";
      cs.confused_pairs.slice(0, 10).forEach(function (p) {
        h += "<tr><td>" + esc(p.given_name) + " \u2192 " + esc(p.suggested_name) + "</td><td>" + p.count + "</td></tr>";
      });
      h += "</table>";
    }
    $("class-summary").innerHTML = h || '<p class="hint">No class summary in summary.json.</p>';
  }

  // -- export ----------------------------------------------------------------------------------------
  function csvCell(v) { v = String(v); return /[",\n\r]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v; }
  function exportCsv() {
    var keys = Object.keys(decisions).map(Number).filter(function (k) { return rowOf[k] !== undefined; });
    keys.sort(function (a, b) { return a - b; });
    var lines = ["index,path,given_label,decision,corrected_label"];
    keys.forEach(function (idx) {
      var r = rowOf[idx], d = decisions[idx];
      var corrected = d.d === "relabel" ? d.l : d.d === "keep" ? cols.given[r] : "";
      lines.push([idx, cols.path ? csvCell(cols.path[r]) : "", cols.given[r], d.d, corrected].join(","));
    });
    return lines.join("\n") + "\n";
  }
  function download() {
    var blob = new Blob([exportCsv()], { type: "text/csv" });
    var a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = "review_decisions.csv";
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }
  function bulkAccept() {
    var q = parseFloat($("bulk-q").value), n = 0;
    if (!(q >= 0 && q <= 1)) { $("bulk-result").textContent = "give q between 0 and 1"; return; }
    for (var k = 0; k < view.length; k++) {
      var r = view[k], idx = cols.index[r];
      if (!decisions[idx] && cols.suggested[r] !== cols.given[r] && cols.sprob[r] >= q) {
        decisions[idx] = { d: "relabel", l: cols.suggested[r] }; n++;
      }
    }
    save();
    $("bulk-result").textContent = n + " rows relabelled to their suggestion";
    render();
  }

  // -- wiring ----------------------------------------------------------------------------------------
  function init() {
    $("run-title").textContent = D.title || "";
    document.title = "review: " + (D.title || "");
    if (D.note) showNote(D.note);
    if (!storageOk) showNote("This browser refuses localStorage: decisions last until the page closes; export them.");
    $("f-given").innerHTML = classOptions(true);
    $("f-suggested").innerHTML = classOptions(true);
    $("f-flagged").checked = st.flagged;
    $("f-flagged").addEventListener("change", function () { st.flagged = this.checked; applyFilters(); });
    $("f-given").addEventListener("change", function () { st.given = +this.value; st.pair = null; applyFilters(); });
    $("f-suggested").addEventListener("change", function () { st.suggested = +this.value; st.pair = null; applyFilters(); });
    $("f-decision").addEventListener("change", function () { st.decision = this.value; applyFilters(); });
    var timer = null;
    $("f-search").addEventListener("input", function () {
      var el = this; clearTimeout(timer);
      timer = setTimeout(function () { st.search = el.value.trim(); applyFilters(); }, 150);
    });
    $("pair-clear").addEventListener("click", function () { st.pair = null; applyFilters(); });
    $("clear-filters").addEventListener("click", function () {
      st.pair = null; st.given = st.suggested = -1; st.decision = st.search = "";
      $("f-given").value = $("f-suggested").value = "-1"; $("f-decision").value = ""; $("f-search").value = "";
      applyFilters();
    });
    $("matrix").addEventListener("click", function (e) {
      var td = e.target.closest("td.cell");
      if (!td) return;
      var p = [+td.getAttribute("data-g"), +td.getAttribute("data-s")];
      st.pair = st.pair && st.pair[0] === p[0] && st.pair[1] === p[1] ? null : p;
      st.given = st.suggested = -1; $("f-given").value = $("f-suggested").value = "-1";
      st.flagged = true; $("f-flagged").checked = true;
      applyFilters();
    });
    $("grid").addEventListener("click", function (e) {
      var card = e.target.closest(".card");
      if (!card) return;
      var cards = $("grid").children;
      for (var k = 0; k < cards.length; k++) if (cards[k] === card) setFocus(k, false);
      var b = e.target.closest("button[data-act]");
      if (b) decide(card, b.getAttribute("data-act"));
    });
    $("grid").addEventListener("change", function (e) {
      if (e.target.classList.contains("relabel-to")) decide(e.target.closest(".card"), "relabel", +e.target.value);
    });
    ["prev", "prev2"].forEach(function (id) { $(id).addEventListener("click", function () { gotoPage(st.page - 1); }); });
    ["next", "next2"].forEach(function (id) { $(id).addEventListener("click", function () { gotoPage(st.page + 1); }); });
    $("export").addEventListener("click", download);
    $("bulk-accept").addEventListener("click", bulkAccept);
    $("reset").addEventListener("click", function () {
      if (window.confirm("Forget every decision of this review?")) { decisions = {}; save(); render(); }
    });
    document.addEventListener("keydown", function (e) {
      var t = e.target.tagName;
      if (t === "INPUT" || t === "SELECT" || t === "TEXTAREA" || e.ctrlKey || e.metaKey || e.altKey) return;
      var card = $("grid").children[focus], key = e.key, acts = { k: "keep", r: "relabel", x: "exclude", u: "unsure", c: "clear" };
      if (acts[key] && card) { decide(card, acts[key]); if (key !== "c") move(1); }
      else if (/^[0-9]$/.test(key) && +key < C && card) { decide(card, "relabel", +key); move(1); }
      else if (key === "ArrowRight" || key === "ArrowDown" || key === "j" || key === "l") move(1);
      else if (key === "ArrowLeft" || key === "ArrowUp" || key === "h") move(-1);
      else if (key === "n") gotoPage(st.page + 1);
      else if (key === "p") gotoPage(st.page - 1);
      else return;
      e.preventDefault();
    });
    buildMatrix();
    classSummary();
    applyFilters();
  }
  init();
  window.nlReview = {
    exportCsv: exportCsv, decisions: function () { return decisions; }, viewIndices: function () {
      return view.map(function (r) { return cols.index[r]; });
    }, page: function () { return st.page; }, pages: function () { return Math.max(1, Math.ceil(view.length / PAGE)); },
    firstRenderMs: performance.now()
  };
  document.body.setAttribute("data-ready", "1");
})();
