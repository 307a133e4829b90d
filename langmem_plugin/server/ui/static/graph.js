// The entity graph picture: reads /ui/graph.json, lays the nodes out with a small force
// simulation, and lets the reader drag nodes and click one to highlight its relations.
// Names are set as text (textContent), never parsed as HTML.
"use strict";
(function () {
  const svg = document.getElementById("graph");
  const status = document.getElementById("graph-status");
  if (!svg) return;
  const SVG = "http://www.w3.org/2000/svg";
  const width = 900, height = 600;

  function element(name, attributes, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
    parent.appendChild(node);
    return node;
  }

  function layout(nodes, edges) {
    nodes.forEach((node, i) => {
      const angle = (2 * Math.PI * i) / Math.max(nodes.length, 1);
      node.x = width / 2 + 200 * Math.cos(angle);
      node.y = height / 2 + 200 * Math.sin(angle);
    });
    const byId = new Map(nodes.map((node) => [node.id, node]));
    for (let step = 0; step < 300; step++) {
      const cooling = 1 - step / 300;
      for (const a of nodes) {
        a.dx = (width / 2 - a.x) * 0.01;
        a.dy = (height / 2 - a.y) * 0.01;
        for (const b of nodes) {
          if (a === b) continue;
          const x = a.x - b.x, y = a.y - b.y, d2 = Math.max(x * x + y * y, 1);
          a.dx += (x / d2) * 3000;
          a.dy += (y / d2) * 3000;
        }
      }
      for (const edge of edges) {
        const s = byId.get(edge.source), t = byId.get(edge.target);
        const x = t.x - s.x, y = t.y - s.y, d = Math.max(Math.hypot(x, y), 1), pull = (d - 120) * 0.05;
        s.dx += (x / d) * pull; s.dy += (y / d) * pull;
        t.dx -= (x / d) * pull; t.dy -= (y / d) * pull;
      }
      for (const node of nodes) {
        node.x = Math.min(width - 30, Math.max(30, node.x + Math.max(-20, Math.min(20, node.dx)) * cooling));
        node.y = Math.min(height - 20, Math.max(20, node.y + Math.max(-20, Math.min(20, node.dy)) * cooling));
      }
    }
    return byId;
  }

  function draw(data) {
    const nodes = data.nodes, edges = data.edges;
    status.textContent = nodes.length
      ? `${nodes.length} entities, ${edges.length} relations`
      : "No entities yet: the memory manager has extracted no relations in this scope.";
    const byId = layout(nodes, edges);
    const lines = edges.map((edge) => {
      const line = element("line", { class: edge.current ? "now" : "past" }, svg);
      const label = element("text", { class: "relation", "text-anchor": "middle" }, svg);
      label.textContent = edge.relation;
      return { edge, line, label };
    });
    const marks = nodes.map((node) => {
      const circle = element("circle", { r: 9 }, svg);
      const title = element("title", {}, circle);
      title.textContent = `${node.name} (${node.type})`;
      const name = element("text", { "text-anchor": "middle" }, svg);
      name.textContent = node.name;
      return { node, circle, name };
    });
    function place() {
      for (const { edge, line, label } of lines) {
        const s = byId.get(edge.source), t = byId.get(edge.target);
        line.setAttribute("x1", s.x); line.setAttribute("y1", s.y);
        line.setAttribute("x2", t.x); line.setAttribute("y2", t.y);
        label.setAttribute("x", (s.x + t.x) / 2); label.setAttribute("y", (s.y + t.y) / 2 - 3);
      }
      for (const { node, circle, name } of marks) {
        circle.setAttribute("cx", node.x); circle.setAttribute("cy", node.y);
        name.setAttribute("x", node.x); name.setAttribute("y", node.y - 13);
      }
    }
    function highlight(chosen) {
      for (const { node, circle } of marks) circle.classList.toggle("lit", node === chosen);
      for (const { edge, line } of lines) {
        line.classList.toggle("lit", edge.source === chosen.id || edge.target === chosen.id);
      }
    }
    for (const mark of marks) {
      mark.circle.addEventListener("pointerdown", (down) => {
        down.preventDefault();
        mark.circle.setPointerCapture(down.pointerId);
        highlight(mark.node);
        const matrix = svg.getScreenCTM().inverse();
        function move(event) {
          const point = new DOMPoint(event.clientX, event.clientY).matrixTransform(matrix);
          mark.node.x = point.x; mark.node.y = point.y;
          place();
        }
        function up() {
          mark.circle.removeEventListener("pointermove", move);
          mark.circle.removeEventListener("pointerup", up);
        }
        mark.circle.addEventListener("pointermove", move);
        mark.circle.addEventListener("pointerup", up);
      });
    }
    place();
    svg.dataset.drawn = String(nodes.length);
  }

  fetch(svg.dataset.source, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then((answer) => {
      if (!answer.ok) throw new Error(`the server answered ${answer.status}`);
      return answer.json();
    })
    .then(draw)
    .catch((error) => { status.textContent = `Could not load the graph: ${error.message}`; });
})();
