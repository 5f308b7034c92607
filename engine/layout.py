"""Where each node and wire of a drawing goes on a page: inputs left, output right.

`lay_out(drawing)` places the nodes of a `Drawing` (engine/draw.py) in
columns, as the tutorial draws a circuit: the inputs in the first column in
program order, each gate one column right of its rightmost input, the
output's wire leaving to the right. A constant that names its gate (the 1 of
`+1`, the -1 of `*-1`) is not drawn: the gate's name carries it.

A wire that spans several columns bends through a placeholder in each
column it crosses (Sugiyama's dummy nodes), so that it never runs through a
box. Within a column, items are sorted by where their wires come from and
then placed as close to that as the spacing allows (the least-squares
placement under minimum gaps: pool adjacent violators), which draws a chain
as a straight line.

Where the tutorial's layout would bend the wires more than twice per node
(a long sum of products: each product's wire runs to a far column), the
compact layout moves every node that is read to one column left of its
first reader: inputs then stand just left of the gates that read them.
Widths are in the units of a monospace font's character
(`CHAR`), so that the numbers on the wires fit.

Every loop is linear in the nodes plus the bends; nothing recurses. The
number of bends can still grow with the square of the nodes (an input read
by every gate of a long chain): `count_points` gives it before anything is
placed, so that a caller can refuse a picture that would be too large.
"""

from __future__ import annotations

from dataclasses import dataclass

from backprop.engine.draw import Drawing

CHAR = 6.6  # width of one character of the 11px monospace font the numbers use
PORT = 34  # vertical distance between two inputs of a gate: a value above, a gradient below
GAP = 14  # between two items of a column
LABEL_ROOM = 14  # above and below a box: the name, the kink mark, the gradient
BEND = 22  # the height a wire needs where it crosses a column
CURVE = 46  # horizontal room for a wire to change height
MIN_LEAD = 44  # the straight end of a wire, where its numbers are written
OUT_LEAD = 100  # the output's wire, leaving to the right
MARGIN = 20
INPUT_ROOM = 36  # left of the first column: an input's gradient is wider than its name
GATE_CHARS = 14  # a longer gate name is shortened in the box
BENDS_PER_NODE = 2  # past this the tutorial's layout gives way to the compact one


@dataclass(frozen=True)
class Box:
    """A drawn node: its top-left corner, size, and the y of each input's port."""

    id: int
    x: float
    y: float
    width: float
    height: float
    ports: tuple[float, ...]


@dataclass(frozen=True)
class Wire:
    """A drawn edge: `index` into the drawing's edges; its points, left to right.

    The last two points are the straight end at the gate, where the value is
    written above and the gradient below; the first is the source's right side.
    """

    index: int
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Layout:
    """The page's picture: boxes, wires, the output's wire and the whole size."""

    boxes: tuple[Box, ...]
    wires: tuple[Wire, ...]
    output_wire: tuple[tuple[float, float], ...] | None  # as a Wire's points
    width: float
    height: float
    columns: int
    bends: int


def shown_nodes(drawing: Drawing) -> list[bool]:
    """Which nodes are drawn: all but constants that only name their gate (var "c")."""
    shown = [True] * len(drawing.nodes)
    named = [0] * len(drawing.nodes)
    for edge in drawing.edges:
        if edge.var == "c":
            named[edge.source] += 1
    for node in drawing.nodes:
        if node.kind == "constant" and node.uses and named[node.id] == node.uses:
            shown[node.id] = False
    return shown


def shown_edges(drawing: Drawing) -> list[int]:
    """Indexes of the drawn edges (not the ones from a constant that names its gate)."""
    return [k for k, edge in enumerate(drawing.edges) if edge.var != "c"]


def _columns(drawing: Drawing, shown: list[bool], edges: list[int]) -> list[int]:
    """Each node's column: the tutorial's layout, or the compact one where that bends
    the wires more than `BENDS_PER_NODE` times per node."""
    column = _tutorial_columns(drawing, shown, edges)
    if _bends(drawing, edges, column) <= BENDS_PER_NODE * max(sum(shown), 1):
        return column
    return _compact_columns(drawing, edges, column)


def _tutorial_columns(drawing: Drawing, shown: list[bool], edges: list[int]) -> list[int]:
    """Inputs at 0, a gate one right of its rightmost drawn input, a drawn constant
    one left of its first reader."""
    nodes = drawing.nodes
    column = [0] * len(nodes)
    loose = [n.kind == "constant" and shown[n.id] for n in nodes]  # placed after
    incoming: list[list[int]] = [[] for _ in nodes]
    for k in edges:
        edge = drawing.edges[k]
        incoming[edge.target].append(edge.source)
    for node in nodes:  # inputs come before their readers: one pass
        sources = [j for j in incoming[node.id] if not loose[j]]
        if incoming[node.id]:
            column[node.id] = 1 + max((column[j] for j in sources), default=0)
    first_reader = _first_readers(drawing, edges, column)
    for node in nodes:
        if loose[node.id] and first_reader[node.id] > 0:
            column[node.id] = first_reader[node.id] - 1
    return column


def _first_readers(drawing: Drawing, edges: list[int], column: list[int]) -> list[int]:
    """The leftmost column that reads each node (-1: none)."""
    first = [-1] * len(drawing.nodes)
    for k in edges:
        edge = drawing.edges[k]
        here = column[edge.target]
        if first[edge.source] < 0 or here < first[edge.source]:
            first[edge.source] = here
    return first


def _compact_columns(drawing: Drawing, edges: list[int], column: list[int]) -> list[int]:
    """Every node that is read moved right, to one column left of its first reader
    (readers come later in the node list: one reverse pass)."""
    column = list(column)
    readers: list[list[int]] = [[] for _ in drawing.nodes]
    for k in edges:
        edge = drawing.edges[k]
        readers[edge.source].append(edge.target)
    for i in range(len(drawing.nodes) - 1, -1, -1):
        if readers[i]:
            column[i] = min(column[j] for j in readers[i]) - 1
    return column


def _bends(drawing: Drawing, edges: list[int], column: list[int]) -> int:
    total = 0
    for k in edges:
        edge = drawing.edges[k]
        total += max(0, column[edge.target] - column[edge.source] - 1)
    return total


def count_points(drawing: Drawing) -> tuple[int, int]:
    """(drawn nodes, bends of long wires): what the picture's size limit is about."""
    shown = shown_nodes(drawing)
    edges = shown_edges(drawing)
    return sum(shown), _bends(drawing, edges, _columns(drawing, shown, edges))


def box_width(gate: str) -> float:
    """A box wide enough for its (shortened) gate name."""
    return max(34.0, min(len(gate), GATE_CHARS) * 7.4 + 16)


def box_height(inputs: int) -> float:
    return max(30.0, PORT * inputs)


def _place(desired: list[float], sizes: list[float]) -> list[float]:
    """Centres as close to `desired` as gaps allow (sorted order kept): pool adjacent
    violators on the centres shifted by the room the items before them need."""
    offsets = [0.0] * len(sizes)
    for i in range(1, len(sizes)):
        offsets[i] = offsets[i - 1] + sizes[i - 1] / 2 + GAP + sizes[i] / 2
    # Blocks of (sum of targets, count, first index): merged while out of order.
    blocks: list[list[float]] = []
    for i, want in enumerate(desired):
        blocks.append([want - offsets[i], 1.0, float(i)])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, count, _ = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    out = [0.0] * len(sizes)
    for b, (total, count, first) in enumerate(blocks):
        end = int(blocks[b + 1][2]) if b + 1 < len(blocks) else len(sizes)
        for i in range(int(first), end):
            out[i] = total / count + offsets[i]
    return out


def lay_out(drawing: Drawing, labels: dict[int, int] | None = None) -> Layout:
    """Place every drawn node and wire. `labels[k]`: characters of edge k's numbers."""
    nodes = drawing.nodes
    shown = shown_nodes(drawing)
    edges = shown_edges(drawing)
    column = _columns(drawing, shown, edges)
    width_of = {n.id: box_width(n.gate) for n in nodes if shown[n.id]}
    count = max((column[n.id] for n in nodes if shown[n.id]), default=0) + 1

    # 1. Each drawn edge's position at its gate, and the bends of long edges.
    incoming: list[list[int]] = [[] for _ in nodes]
    for k in edges:
        incoming[drawing.edges[k].target].append(k)
    port_of: dict[int, int] = {}
    for ks in incoming:
        for p, k in enumerate(ks):
            port_of[k] = p
    # items[c]: (kind, key) with kind "node" (key = node id) or "bend" (key = (edge, column)).
    items: list[list[tuple[str, int, int]]] = [[] for _ in range(count)]
    for node in nodes:
        if shown[node.id]:
            items[column[node.id]].append(("node", node.id, 0))
    bends = 0
    for k in edges:
        edge = drawing.edges[k]
        for c in range(column[edge.source] + 1, column[edge.target]):
            items[c].append(("bend", k, c))
            bends += 1

    # 2. Heights, then the columns left to right: each item where its wires come from.
    def height(item: tuple[str, int, int]) -> float:
        if item[0] == "bend":
            return BEND
        return box_height(len(incoming[item[1]])) + 2 * LABEL_ROOM

    centre: dict[tuple[str, int, int], float] = {}

    def source_y(k: int, c: int) -> float:
        """Where edge k stands in column c - 1 (its source, or its bend there)."""
        edge = drawing.edges[k]
        if column[edge.source] == c - 1:
            return centre[("node", edge.source, 0)]
        return centre[("bend", k, c - 1)]

    for c in range(count):
        column_items = items[c]
        if c == 0:
            wants = [0.0] * len(column_items)
        else:
            wants = []
            for item in column_items:
                if item[0] == "bend":
                    wants.append(source_y(item[1], c))
                    continue
                ks = incoming[item[1]]
                if not ks:
                    wants.append(0.0)
                    continue
                # The centre that would make every wire straight, on average.
                middle = (len(ks) - 1) / 2
                wants.append(
                    sum(source_y(k, c) - (port_of[k] - middle) * PORT for k in ks) / len(ks)
                )
        order = sorted(range(len(column_items)), key=lambda i: (wants[i], i))
        column_items = [column_items[i] for i in order]
        items[c] = column_items
        placed = _place([wants[i] for i in order], [height(item) for item in column_items])
        for item, y in zip(column_items, placed):
            centre[item] = y

    # 3. Columns' x: the widest box before, a curve, and the widest numbers on the wires in.
    lead = [float(MIN_LEAD)] * count
    for k in edges:
        c = column[drawing.edges[k].target]
        chars = (labels or {}).get(k, 6)
        lead[c] = max(lead[c], chars * CHAR + 14)
    widest = [0.0] * count
    for node in nodes:
        if shown[node.id]:
            widest[column[node.id]] = max(widest[column[node.id]], width_of[node.id])
    for c in range(count):
        if any(item[0] == "bend" for item in items[c]):
            widest[c] = max(widest[c], 20.0)
    left = [0.0] * count
    x = float(MARGIN + INPUT_ROOM)
    for c in range(count):
        if c:
            x += widest[c - 1] + CURVE + lead[c]
        left[c] = x

    top = min((centre[item] - height(item) / 2 for item in centre), default=0.0)
    shift = MARGIN - top

    boxes = []
    box_of: dict[int, Box] = {}
    for node in nodes:
        if not shown[node.id]:
            continue
        n = len(incoming[node.id])
        h = box_height(n)
        cy = centre[("node", node.id, 0)] + shift
        ports = tuple(cy + (p - (n - 1) / 2) * PORT for p in range(n))
        box = Box(node.id, left[column[node.id]], cy - h / 2, width_of[node.id], h, ports)
        boxes.append(box)
        box_of[node.id] = box

    wires = []
    for k in edges:
        edge = drawing.edges[k]
        source, target = box_of[edge.source], box_of[edge.target]
        points = [(source.x + source.width, source.y + source.height / 2)]
        for c in range(column[edge.source] + 1, column[edge.target]):
            y = centre[("bend", k, c)] + shift
            points.append((left[c], y))
            points.append((left[c] + widest[c], y))
        y = target.ports[port_of[k]]
        points.append((target.x - lead[column[edge.target]], y))
        points.append((target.x, y))
        wires.append(Wire(k, tuple(points)))

    out_box = box_of.get(drawing.output)
    output_wire = None
    right = max((b.x + b.width for b in boxes), default=MARGIN)
    bottom = max((centre[item] + height(item) / 2 + shift for item in centre), default=MARGIN)
    if out_box is not None:
        x0, y0 = out_box.x + out_box.width, out_box.y + out_box.height / 2
        # Where a gate reads the output (a statement that does not reach it), the
        # output's own wire drops below the others instead of running over them.
        drop = PORT if any(drawing.edges[k].source == drawing.output for k in edges) else 0.0
        output_wire = ((x0, y0), (x0 + CURVE, y0 + drop), (x0 + CURVE + OUT_LEAD, y0 + drop))
        right = max(right, x0 + CURVE + OUT_LEAD)
        bottom = max(bottom, y0 + drop + 2 * LABEL_ROOM)
    return Layout(
        tuple(boxes), tuple(wires), output_wire, right + MARGIN, bottom + MARGIN, count, bends
    )
