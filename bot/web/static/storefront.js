/* tailor's storefront panel: the pick, the changes asked for it, the results, and why a result was shown.
 *
 * It reads what the assistant sends on the widget's socket (bot_uttered): the actions add
 * {"storefront": {...}} after every turn that changes what is shown and {"explanation": {...}} after
 * "why this one?" (actions/storefront.py). It talks only through the widget (rasa-webchat's
 * sendMessage), with the payloads the chat's own buttons send, so every click is a chat turn.
 */
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var RELATION_COLORS = {
    has_attribute: "#3b7dd8", has_user_attribute: "#8e44ad", mentions: "#e67e22", modifies: "#d35400",
    is_a: "#7f8c8d", same_product: "#16a085", liked_with: "#c0392b", liked_for: "#e74c3c",
    liked_from: "#f39c12", likes: "#c0392b", dislikes: "#34495e"
  };
  var KIND_COLORS = { image: "#2d2a26", caption: "#e67e22", attribute: "#3b7dd8", concept: "#7f8c8d", user: "#8e44ad" };
  var BUSY_TIMEOUT_MS = 20000;

  function relationColor(relation) {
    return RELATION_COLORS[String(relation).replace(/^rev_/, "")] || "#555";
  }

  function clip(text, n) {
    text = String(text == null ? "" : text);
    return text.length > n ? text.slice(0, n - 1) + "\u2026" : text;
  }

  function el(doc, tag, attrs, text) {
    var node = doc.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text != null) { node.textContent = text; }
    return node;
  }

  function svgEl(doc, tag, attrs) {
    var node = doc.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  function selectPayload(id) { return "/select" + JSON.stringify({ product: id }); }
  function likePayload(id) { return "/like" + JSON.stringify({ product: id }); }

  /** Columns of the explanation picture: images, captions and shoppers | attributes | concepts. */
  function layout(exp) {
    var cols = [[], [], []];
    var order = function (n) {
      if (n.kind !== "image") { return { caption: 3, user: 4 }[n.kind] || 5; }
      return n.label === exp.product ? 0 : n.label === exp.candidate ? 1 : 2;
    };
    exp.nodes.slice().sort(function (a, b) { return order(a) - order(b); }).forEach(function (n) {
      cols[n.kind === "attribute" ? 1 : n.kind === "concept" ? 2 : 0].push(n);
    });
    var rows = Math.max(1, cols[0].length, cols[1].length, cols[2].length);
    var height = 24 + rows * 26;
    var xs = [40, 164, 290];
    var pos = {};
    cols.forEach(function (col, c) {
      var top = (height - (col.length - 1) * 26) / 2;
      col.forEach(function (n, i) { pos[n.id] = { x: xs[c], y: top + i * 26, col: c }; });
    });
    return { pos: pos, height: height };
  }

  function nodeLabel(n, exp) {
    if (n.kind === "image") {
      return n.label === exp.product ? "this product" : n.label === exp.candidate ? "your pick" : "another photo";
    }
    if (n.kind === "attribute") {
      var parts = String(n.label).split(":");
      return parts.length > 1 ? parts.slice(1).join(":") + " (" + parts[0] + ")" : n.label;
    }
    if (n.kind === "caption") { return "\u201c" + n.label + "\u201d"; }
    if (n.kind === "user") { return "a shopper"; }
    return n.label;
  }

  function TailorStorefront(doc) {
    var chat = null;
    var queue = [];
    var busyTimer = null;
    var liked = {};
    var current = { results: [], pick: null, changes: [] };
    var $ = function (id) { return doc.getElementById(id); };

    function send(payload, shown) {
      if (!chat) { return false; }
      chat.sendMessage(payload, shown || "");
      return true;
    }

    function setBusy(on) {
      clearTimeout(busyTimer);
      if (on) { busyTimer = setTimeout(function () { queue = []; setBusy(false); }, BUSY_TIMEOUT_MS); }
      doc.querySelectorAll("#panel button.chip, #grid button").forEach(function (b) { b.disabled = on; });
    }

    function say(text) {
      var shown = text.charAt(0) === "/" ? "Select " + (current.pick ? current.pick.title : "it") : text;
      return send(text, shown);
    }

    function removeChange(change) {
      var steps = (change.say || []).slice();
      if (!steps.length) { return; }
      setBusy(true);
      queue = steps.slice(1);
      if (!say(steps[0])) { queue = []; setBusy(false); }
    }

    function renderPick(pick) {
      $("pick-empty").hidden = !!pick;
      $("pick-card").hidden = !pick;
      if (!pick) { return; }
      var img = $("pick-image");
      img.alt = "Your pick: " + pick.title;
      if (pick.image_url) { img.src = pick.image_url; } else { img.removeAttribute("src"); }
      $("pick-title").textContent = pick.title;
      var attrs = $("pick-attributes");
      attrs.textContent = "";
      var list = (pick.attributes || []).slice();
      var hasCategory = list.some(function (a) { return a.group === "category"; });
      if (pick.category && !hasCategory) { list.unshift({ group: "category", value: pick.category }); }
      list.forEach(function (a) {
        var li = el(doc, "li");
        li.appendChild(el(doc, "b", {}, a.group + " "));
        li.appendChild(doc.createTextNode(a.value));
        attrs.appendChild(li);
      });
    }

    function renderChanges(changes) {
      var ul = $("chips");
      ul.textContent = "";
      $("changes").hidden = !changes.length;
      changes.forEach(function (change) {
        var li = el(doc, "li");
        var b = el(doc, "button", { type: "button", "class": "chip", "aria-label": "Remove the change: " + change.label }, change.label);
        b.appendChild(el(doc, "span", { "aria-hidden": "true" }, "\u00d7"));
        b.addEventListener("click", function () { removeChange(change); });
        li.appendChild(b);
        ul.appendChild(li);
      });
    }

    function renderGrid(results, query, pick) {
      var ul = $("grid");
      ul.textContent = "";
      $("grid-empty").hidden = results.length > 0;
      $("grid-title").textContent = results.length ? "Results" + (query ? " for \u201c" + query + "\u201d" : "") : "Results";
      results.forEach(function (r) {
        var picked = !!pick && pick.image_id === r.image_id;
        var li = el(doc, "li", { "class": "product" + (picked ? " picked" : ""), "data-image-id": r.image_id });
        li.appendChild(el(doc, "span", { "class": "badge" }, "#" + r.number + (picked ? " picked" : "")));
        if (liked[r.image_id]) { li.appendChild(el(doc, "span", { "class": "liked" }, "\u2665 liked")); }
        li.appendChild(el(doc, "img", { src: r.image_url, alt: r.title, loading: "lazy" }));
        li.appendChild(el(doc, "h4", {}, r.title));
        var actions = el(doc, "div", { "class": "actions" });
        var select = el(doc, "button", { type: "button", "aria-label": "Select #" + r.number + ": " + r.title, "aria-pressed": String(picked) }, "Select");
        select.addEventListener("click", function () { send(selectPayload(r.image_id), "Select #" + r.number); });
        var like = el(doc, "button", { type: "button", "aria-label": "I like this: #" + r.number + " " + r.title, "aria-pressed": String(!!liked[r.image_id]) }, "I like this");
        like.addEventListener("click", function () { send(likePayload(r.image_id), "I like #" + r.number); });
        actions.appendChild(select);
        actions.appendChild(like);
        li.appendChild(actions);
        ul.appendChild(li);
      });
    }

    function hideWhy() {
      $("why").hidden = true;
      doc.querySelector(".top-row").classList.add("no-why");
    }

    function drawExplanation(exp) {
      var svg = $("why-graph");
      svg.textContent = "";
      var where = exp.number && exp.number !== "?" ? "#" + exp.number + " " : "";
      $("why-title").textContent = "Why " + where + (exp.title || "this one") + "?";
      $("why-text").textContent = exp.text || "";
      $("why").hidden = false;
      $("why").setAttribute("data-product", exp.product);
      doc.querySelector(".top-row").classList.remove("no-why");
      var nodes = exp.nodes || [];
      var edges = exp.edges || [];
      svg.setAttribute("aria-label", "Explanation graph of " + (exp.title || "the product") + ": " + nodes.length + " nodes, " + edges.length + " edges");
      var legend = $("why-legend");
      legend.textContent = "";
      if (!edges.length) { svg.setAttribute("viewBox", "0 0 380 0"); return; }
      var geo = layout(exp);
      svg.setAttribute("viewBox", "0 0 380 " + geo.height);
      var weights = edges.map(function (e) { return Math.abs(Number(e.weight) || 0); });
      var maxWeight = Math.max.apply(null, weights);
      var seen = {};
      edges.forEach(function (e, i) {
        var a = geo.pos[e.source], b = geo.pos[e.target];
        if (!a || !b) { return; }
        var d = a.col === b.col
          ? "M" + a.x + "," + a.y + " C" + (a.x - 34) + "," + a.y + " " + (b.x - 34) + "," + b.y + " " + b.x + "," + b.y
          : "M" + a.x + "," + a.y + " C" + (a.x + b.x) / 2 + "," + a.y + " " + (a.x + b.x) / 2 + "," + b.y + " " + b.x + "," + b.y;
        var width = maxWeight > 0 ? 1 + 4 * weights[i] / maxWeight : 1.6;
        var path = svgEl(doc, "path", {
          d: d, fill: "none", stroke: relationColor(e.relation), "stroke-width": width.toFixed(2),
          "stroke-opacity": "0.85", "class": "edge", "data-relation": e.relation
        });
        var title = svgEl(doc, "title");
        title.textContent = e.relation + (e.weight != null ? " (weight " + Number(e.weight).toFixed(3) + ")" : "");
        path.appendChild(title);
        svg.appendChild(path);
        seen[String(e.relation).replace(/^rev_/, "")] = true;
      });
      nodes.forEach(function (n) {
        var p = geo.pos[n.id];
        var g = svgEl(doc, "g", { "class": "node", "data-kind": n.kind });
        var isProduct = n.kind === "image" && n.label === exp.product;
        g.appendChild(svgEl(doc, "circle", { cx: p.x, cy: p.y, r: isProduct ? 7 : 5, fill: KIND_COLORS[n.kind] || "#555", stroke: "#fff", "stroke-width": 1.5 }));
        var text = svgEl(doc, "text", { x: p.x + 9, y: p.y + 3.5 });
        text.textContent = clip(nodeLabel(n, exp), p.col === 2 ? 15 : 20);
        var title = svgEl(doc, "title");
        title.textContent = n.kind + ": " + n.label;
        g.appendChild(title);
        g.appendChild(text);
        svg.appendChild(g);
      });
      Object.keys(seen).forEach(function (rel) {
        var li = el(doc, "li");
        li.appendChild(el(doc, "i", { style: "background:" + relationColor(rel) }));
        li.appendChild(doc.createTextNode(rel.replace(/_/g, " ")));
        legend.appendChild(li);
      });
    }

    function render(st) {
      var ids = function (rs) { return rs.map(function (r) { return r.image_id; }).join(","); };
      (st.liked || []).forEach(function (id) { liked[id] = true; });
      (st.unliked || []).forEach(function (id) { delete liked[id]; });
      var resultsChanged = ids(st.results || []) !== ids(current.results);
      current = { results: st.results || [], pick: st.pick || null, changes: st.changes || [] };
      if (resultsChanged && !$("why").hidden) {
        var shownId = $("why").getAttribute("data-product");
        var stillShown = current.results.some(function (r) { return r.image_id === shownId; });
        if (!stillShown) { hideWhy(); }
      }
      renderPick(current.pick);
      renderChanges(current.changes);
      renderGrid(current.results, st.query, current.pick);
    }

    function receive(msg) {
      if (!msg || typeof msg !== "object") { return; }
      if (msg.storefront) {
        render(msg.storefront);
        if (queue.length) { say(queue.shift()); setBusy(true); } else { setBusy(false); }
      } else if (msg.explanation) {
        drawExplanation(msg.explanation);
      }
    }

    // The widget's card buttons are focusable <div role="button">s that answer clicks only: Enter and
    // Space press them too, so the chat works from the keyboard like the panel does.
    doc.addEventListener("keydown", function (ev) {
      var t = ev.target;
      if ((ev.key === "Enter" || ev.key === " ") && t && t.classList && t.classList.contains("rw-reply") && t.tagName !== "A") {
        ev.preventDefault();
        t.click();
      }
    });

    var fold = $("fold");
    fold.addEventListener("click", function () {
      var open = fold.getAttribute("aria-expanded") !== "true";
      fold.setAttribute("aria-expanded", String(open));
      $("panel-body").hidden = !open;
    });
    hideWhy();

    return {
      receive: receive,
      attach: function (ref) { chat = ref; },
      state: function () { return current; }
    };
  }

  window.TailorStorefront = TailorStorefront;
})();
