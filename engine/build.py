"""Program text or syntax tree to graph: one node per operator, call and literal as
written, one per input name, inputs first.

`read_graph` builds the graph while the parser reads the text (a `Graph`
maker: parser/parse.py), so neither the tokens nor a syntax tree of the whole
program are ever held; `build_graph` makes the same graph from a tree.
"""

from __future__ import annotations

import math
import sys
from bisect import bisect_left
from collections.abc import Callable
from itertools import chain, cycle, repeat
from operator import add, itemgetter
from typing import Any

from backprop.engine.graph import Graph, Node, make_node
from backprop.engine.passes import depends_on_inputs, live_nodes
from backprop.parser.errors import ParseError, Span
from backprop.parser.lang import MAX_NODES
from backprop.parser.parse import _replay, read
from backprop.parser.tree import (
    BINARY_GATES,
    UNARY_GATES,
    Assign,
    Binary,
    Call,
    Expr,
    Name,
    Num,
    Program,
    Unary,
)

CONSTANT_VALUES = {"pi": math.pi, "e": math.e}
_PIECE = 65_536  # nodes made at a time at the end of reading


# While reading, a node is known by a reference: k >= 0 is the k-th operator,
# call or constant made, and ~k (that is -1 - k) the k-th input. Inputs come
# first in the graph, so their number is known only at the end, when the
# references become node ids.


class GraphMaker:
    """The parser's maker (parser/parse.py's Maker) that makes graph nodes."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.inputs: dict[str, int] = {}  # name -> input number
        self.input_spans: list[tuple[int, int]] = []
        self.env: dict[str, int] = {}  # name -> reference: inputs, then assignments
        # The operators, calls and constants, one entry each, in order.
        self.ops: list[str] = []
        self.args: list[tuple[int, ...]] = []
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.constants: dict[int, tuple[str, float]] = {}  # reference -> (label, value)
        self.names: dict[int, str] = {}  # reference -> the name its assignment gave it
        # Runs of a statement made in one go (`player`): the first reference, the
        # number of statements, and each node's inputs as (first reference, step).
        self.runs: list[tuple[int, int, list[list[tuple[int, int]]]]] = []
        self.first = 0  # the first reference of the statement being read
        self.output = 0

    def _make(self, op: str, args: tuple[int, ...], start: int, end: int) -> int:
        ref = len(self.ops)
        self.ops.append(op)
        self.args.append(args)
        self.starts.append(start)
        self.ends.append(end)
        return ref

    def num(self, value: float, text: str, start: int, end: int) -> int:
        ref = self._make("const", (), start, end)
        self.constants[ref] = (text, value)
        return ref

    def name(self, name: str, start: int, end: int) -> int:
        ref = self.env.get(name)
        if ref is not None:
            return ref
        if name in CONSTANT_VALUES:
            return self.num(CONSTANT_VALUES[name], name, start, end)
        # Read before any assignment: an input.
        number = len(self.inputs)
        self.inputs[name] = number
        self.input_spans.append((start, end))
        self.env[name] = ~number
        return ~number

    def unary(self, op: str, operand: int, start: int, end: int) -> int:
        return self._make(UNARY_GATES[op], (operand,), start, end)

    def binary(self, op: str, left: int, right: int, start: int, end: int) -> int:
        return self._make(BINARY_GATES[op], (left, right), start, end)

    def call(self, func: str, args: tuple[int, ...], start: int, end: int) -> int:
        return self._make(func, args, start, end)

    def statement(
        self, target: str | None, target_span: Span | None, value: int, value_span: Span, start: int
    ) -> None:
        self._statement(target, value, value_span[0], value_span[1])

    def _statement(self, target: str | None, value: int, start: int, end: int) -> None:
        made = len(self.ops)
        if len(self.inputs) + made > MAX_NODES:
            raise ParseError(
                f"the program is too large: over {MAX_NODES:,} nodes "
                "(inputs, constants, operators and calls)",
                Span(start, end),
                kind="limit",
            )
        self.output = value
        if target is not None:
            self.env[target] = value
            # The node this statement made carries the name. `a = x` or `b = a`
            # makes no node: the node keeps the name it had (x, or a).
            if value >= self.first:
                self.names[value] = sys.intern(target)  # one string for every h = ...
        self.first = made

    def player(self, calls: list[tuple[Any, ...]]) -> Callable[[list[int]], None] | None:
        """What makes a statement the parser recorded (parser/parse.py's _Recorder)
        again at each of a list of offsets, one after the other, in a few list
        operations rather than a call per piece: the same references, spans,
        constants, names and limit as the calls replayed would give. None when a
        name could be a constant (pi, e): then the calls are replayed."""
        names: list[str] = []  # the names read, looked up again at each replay
        made: list[int] = []  # what each call made: j >= 0 the j-th new node, ~k the k-th name
        ops: list[str] = []
        specs: list[tuple[int, ...]] = []
        rel_starts: list[int] = []
        rel_ends: list[int] = []
        consts: list[tuple[int, tuple[str, float]]] = []
        statement: tuple[Any, ...] = ()
        spec: tuple[int, ...]
        for call in calls:
            code = call[0]
            if code == 5:
                statement = call
                continue
            if code == 1:
                if call[1] in CONSTANT_VALUES:
                    return None
                names.append(call[1])
                made.append(~(len(names) - 1))
                continue
            if code == 0:
                _, value, text, start, end = call
                op, spec = "const", ()
                consts.append((len(ops), (text, value)))
            elif code == 2:
                _, gate, operand, start, end = call
                op, spec = UNARY_GATES[gate], (made[operand],)
            elif code == 3:
                _, gate, left, right, start, end = call
                op, spec = BINARY_GATES[gate], (made[left], made[right])
            else:
                _, op, args, start, end = call
                spec = tuple(made[k] for k in args)
            made.append(len(ops))
            ops.append(op)
            specs.append(spec)
            rel_starts.append(start)
            rel_ends.append(end)
        if not statement or not ops:
            return None
        _, target, rel, value, value_start, value_end, first = statement
        count = len(ops)
        # Slots: the new nodes' references, then the names' (looked up at each replay).
        # Each node's inputs are taken from the slots by a getter that gives a tuple.
        getters = [_tuple_getter([k if k >= 0 else count + ~k for k in spec]) for spec in specs]
        result = made[value]
        target = None if target is None else sys.intern(target)
        at_consts = [j for j, _ in consts]
        const_made = [const for _, const in consts]
        self_ops, self_args = self.ops, self.args
        self_starts, self_ends = self.starts, self.ends
        constants, env = self.constants, self.env

        def play(base: int) -> None:
            try:
                found = tuple(map(env.__getitem__, names))
            except KeyError:  # not met in this program yet: the calls, one by one
                _replay(self, calls, base)
                return
            r0 = len(self_ops)
            slots = (*range(r0, r0 + count), *found)
            self_ops.extend(ops)
            self_args.extend([get(slots) for get in getters])
            self_starts.extend(map(base.__add__, rel_starts))
            self_ends.extend(map(base.__add__, rel_ends))
            if at_consts:
                constants.update(zip(map(r0.__add__, at_consts), const_made))
            value_ref = slots[result] if result >= 0 else found[~result]
            self._statement(target, value_ref, base + value_start, base + value_end)

        def play_run(bases: list[int]) -> None:
            """The statement at each of `bases`, one after the other (consecutive lines)."""
            play(bases[0])
            rest = bases[1:]
            runs = len(rest)
            start = len(self_ops)
            if not runs or result < 0:
                for base in rest:
                    play(base)
                return
            if len(self.inputs) + start + runs * count > MAX_NODES:
                for base in rest:  # one by one, to fail at the statement that crosses it
                    play(base)
                return

            # From the second statement on, each reads its target as the node the one
            # before it made, and every other name as it is now: every input of every
            # node is an arithmetic sequence of references over the statements (or one
            # reference), kept as such (`finish` makes the input tuples from them) and
            # the other columns made from them, without a call per statement.
            columns: list[list[tuple[int, int]]] = []  # per node: (first, step) per input
            for spec in specs:
                column = []
                for k in spec:
                    if k >= 0:  # the k-th node this statement makes
                        column.append((start + k, count))
                    elif names[~k] == target:  # the node the statement before made
                        column.append((start - count + result, count))
                    elif names[~k] in env:
                        column.append((env[names[~k]], 0))
                    else:  # a name not met yet (cannot be: the first statement met it)
                        for base in rest:
                            play(base)
                        return
                columns.append(column)
            self.runs.append((start, runs, columns))
            self_ops.extend(ops * runs)
            self_args.extend(repeat((), runs * count))  # in self.runs
            each = chain.from_iterable(map(repeat, rest, repeat(count)))
            self_starts.extend(map(add, each, cycle(rel_starts)))
            each = chain.from_iterable(map(repeat, rest, repeat(count)))
            self_ends.extend(map(add, each, cycle(rel_ends)))
            end = start + runs * count
            for j, const in consts:
                constants.update(zip(range(start + j, end, count), repeat(const)))
            last = end - count + result
            if target is not None:
                env[target] = last
                self.names.update(zip(range(start + result, end, count), repeat(target)))
            self.output = last
            self.first = end

        return play_run

    def finish(self) -> Graph:
        """The graph, inputs first; the output is the last statement's value."""
        n, m = len(self.inputs), len(self.ops)
        # ids[ref] is the node id of a reference, one int object per node, which
        # every node reading it shares: the operators' ids, then the inputs'
        # backwards, so that ids[~k] is input k's.
        ids = [*range(n, n + m), *range(n - 1, -1, -1)]
        nodes = [
            make_node(ids[~k], "var", (), start, end, name, 0.0)
            for (name, k), (start, end) in zip(self.inputs.items(), self.input_spans)
        ]
        # The node tuples are made from columns: a constant's label and value,
        # each node's inputs as ids, then a piece of nodes at a time.
        constants = self.constants
        const_refs = sorted(constants)
        args_of, ops, starts, ends = self.args, self.ops, self.starts, self.ends
        kind = repeat(Node)
        to_id = ids.__getitem__
        # Each node's inputs as ids: a run's from its sequences (the nodes of one
        # statement at a time), the others' from their references, which are let go.
        inputs: list[tuple[int, ...]] = []
        keep = inputs.append
        at = 0
        for first, count, columns in [*self.runs, (m, 0, [])]:
            for lo in range(at, first, _PIECE):  # the references let go a piece at a time
                hi = min(lo + _PIECE, first)
                for args in args_of[lo:hi]:
                    if len(args) == 2:
                        keep((ids[args[0]], ids[args[1]]))
                    elif len(args) == 1:
                        keep((ids[args[0]],))
                    else:
                        keep(tuple([ids[a] for a in args]))
                args_of[lo:hi] = [()] * (hi - lo)
            made = [
                zip(
                    *[
                        map(to_id, range(ref, ref + step * count, step))
                        if step
                        else repeat(ids[ref], count)
                        for ref, step in column
                    ]
                )
                if column
                else repeat((), count)
                for column in columns
            ]
            inputs.extend(chain.from_iterable(zip(*made)))
            at = first + count * len(columns)
        at = 0  # in const_refs
        for lo in range(0, m, _PIECE):
            hi = min(lo + _PIECE, m)
            labels, values = [""] * (hi - lo), [0.0] * (hi - lo)
            stop = bisect_left(const_refs, hi, at)
            for ref in const_refs[at:stop]:
                labels[ref - lo], values[ref - lo] = constants[ref]
            at = stop
            piece = (ids[lo:hi], ops[lo:hi], inputs[lo:hi], starts[lo:hi], ends[lo:hi])
            rows = zip(*piece, labels, values)
            nodes.extend(map(tuple.__new__, kind, rows))
        del inputs
        names = {ids[ref]: name for ref, name in self.names.items()}
        graph = Graph(tuple(nodes), ids[self.output], self.inputs, self.source)
        nodes.clear()
        # The references are done with: free them before the passes below.
        self.ops, self.args, self.starts, self.ends = [], [], [], []
        self.constants, self.env, self.runs = {}, {}, []
        depends = depends_on_inputs(graph)
        live = live_nodes(graph, depends)
        return Graph(
            graph.nodes, graph.output, graph.inputs, self.source, tuple(depends), tuple(live), names
        )


def _tuple_getter(positions: list[int]) -> Callable[[tuple[int, ...]], tuple[int, ...]]:
    """A function giving the tuple of the items at `positions` of a tuple."""
    if not positions:
        return lambda slots: ()
    if len(positions) == 1:
        at = positions[0]
        return itemgetter(slice(at, at + 1))  # a tuple's slice is a tuple
    return itemgetter(*positions)


def read_graph(source: str) -> Graph:
    """The graph of a program's text; raises ParseError with a span on any syntax error."""
    return read(source, GraphMaker(source))


def build_graph(program: Program) -> Graph:
    """The graph of a parsed program; its output is the last statement's value."""
    maker = GraphMaker(program.source)
    for statement in program.statements:
        if isinstance(statement, Assign):
            ref = _walk(statement.value, maker)
            maker.statement(statement.name, statement.name_span, ref, statement.value.span, 0)
        else:
            maker.statement(None, None, _walk(statement, maker), statement.span, 0)
    return maker.finish()


def _walk(expr: Expr, maker: GraphMaker) -> int:
    """Hand `expr`'s nodes to `maker`, children before parents, left to right; no recursion."""
    refs: list[int] = []
    # Each stack entry is a node to open, or (node,) to make once its children are made.
    stack: list[Expr | tuple[Expr]] = [expr]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):
            node = item[0]
            if isinstance(node, Binary):
                right = refs.pop()
                refs.append(maker.binary(node.op, refs.pop(), right, *node.span))
            elif isinstance(node, Unary):
                refs.append(maker.unary(node.op, refs.pop(), *node.span))
            else:
                assert isinstance(node, Call)
                count = len(node.args)
                args = tuple(refs[-count:])
                del refs[-count:]
                refs.append(maker.call(node.func, args, *node.span))
        elif isinstance(item, Num):
            refs.append(maker.num(item.value, item.text, *item.span))
        elif isinstance(item, Name):
            refs.append(maker.name(item.name, *item.span))
        else:
            stack.append((item,))
            if isinstance(item, Binary):
                stack.append(item.right)
                stack.append(item.left)
            elif isinstance(item, Unary):
                stack.append(item.operand)
            else:
                stack.extend(reversed(item.args))
    return refs[0]
