"""Program text or syntax tree to graph: one node per operator, call and literal as
written, one per input name, inputs first.

`read_graph` builds the graph while the parser reads the text (a `Graph`
maker: parser/parse.py), so neither the tokens nor a syntax tree of the whole
program are ever held; `build_graph` makes the same graph from a tree.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Callable, Mapping
from itertools import chain, cycle, repeat
from operator import add, itemgetter
from typing import Any

from backprop.engine.graph import (
    INDEX,
    Columns,
    Graph,
    RunNames,
    forget_progressions,
    progression,
    zeros,
)
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


# While reading, a node is known by a reference: k >= 0 is the k-th operator,
# call or constant made, and ~k (that is -1 - k) the k-th input. Inputs come
# first in the graph, so their number is known only at the end, when the
# references become node ids.


class GraphMaker:
    """The parser's maker (parser/parse.py's Maker) that makes graph nodes, as columns."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.inputs: dict[str, int] = {}  # name -> input number
        self.input_starts = array(INDEX)  # each input's span where it is first read
        self.input_ends = array(INDEX)
        self.env: dict[str, int] = {}  # name -> reference: inputs, then assignments
        # The operators, calls and constants, one entry each, in order, as columns:
        # the gate, the number of inputs, the first two inputs' references (0 where
        # there is none), all of them for three or more, the span, and a constant's
        # (label, value).
        self.ops: list[str] = []
        self.arity = bytearray()
        self.first = array(INDEX)
        self.second = array(INDEX)
        self.more: dict[int, tuple[int, ...]] = {}
        self.starts = array(INDEX)
        self.ends = array(INDEX)
        self.leaf: list[str | tuple[str, float] | None] = []
        self.names: dict[int, str] = {}  # reference -> the name its assignment gave it
        # A run's names: (first reference, count, total, at, name) (graph.RunNames).
        self.run_names: list[tuple[int, int, int, int, str]] = []
        # Runs of a statement made in one go (`player`): the first reference, the
        # number of statements, and each node's inputs as (first reference, step).
        self.runs: list[tuple[int, int, list[list[tuple[int, int]]]]] = []
        self.first_ref = 0  # the first reference of the statement being read
        self.output = 0

    def _make(self, op: str, args: tuple[int, ...], start: int, end: int) -> int:
        ref = len(self.ops)
        self.ops.append(op)
        count = len(args)
        self.arity.append(count if count < 3 else 3)
        self.first.append(args[0] if count else 0)
        self.second.append(args[1] if count > 1 else 0)
        if count > 2:
            self.more[ref] = args
        self.starts.append(start)
        self.ends.append(end)
        self.leaf.append(None)
        return ref

    def num(self, value: float, text: str, start: int, end: int) -> int:
        ref = self._make("const", (), start, end)
        self.leaf[ref] = (text, value)
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
        self.input_starts.append(start)
        self.input_ends.append(end)
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
            if value >= self.first_ref:
                self.names[value] = sys.intern(target)  # one string for every h = ...
        self.first_ref = made

    def player(self, calls: list[tuple[Any, ...]]) -> Callable[[list[int]], None] | None:
        """What makes a statement the parser recorded (parser/parse.py's _Recorder)
        again at each of a list of offsets, one after the other, in a few list
        operations rather than a call per piece: the same references, spans,
        constants, names and limit as the calls replayed would give. None when a
        name could be a constant (pi, e), or a call has three inputs or more: then
        the calls are replayed."""
        names: list[str] = []  # the names read, looked up again at each replay
        made: list[int] = []  # what each call made: j >= 0 the j-th new node, ~k the k-th name
        ops: list[str] = []
        specs: list[tuple[int, ...]] = []
        rel_starts: list[int] = []
        rel_ends: list[int] = []
        leaves: list[str | tuple[str, float] | None] = []
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
            leaf = None
            if code == 0:
                _, value, text, start, end = call
                op, spec = "const", ()
                leaf = (text, value)
            elif code == 2:
                _, gate, operand, start, end = call
                op, spec = UNARY_GATES[gate], (made[operand],)
            elif code == 3:
                _, gate, left, right, start, end = call
                op, spec = BINARY_GATES[gate], (made[left], made[right])
            else:
                _, op, args, start, end = call
                spec = tuple(made[k] for k in args)
                if len(spec) > 2:
                    return None
            made.append(len(ops))
            ops.append(op)
            specs.append(spec)
            rel_starts.append(start)
            rel_ends.append(end)
            leaves.append(leaf)
        if not statement or not ops:
            return None
        _, target, rel, value, value_start, value_end, first = statement
        count = len(ops)
        # Slots: the new nodes' references, then the names' (looked up at each replay),
        # then 0 (a missing input). Each column of inputs is taken from the slots.
        slot = [[k if k >= 0 else count + ~k for k in spec] for spec in specs]
        missing = count + len(names)
        arity = bytes(map(len, specs))
        get_first = _getter([s[0] if s else missing for s in slot])
        get_second = _getter([s[1] if len(s) > 1 else missing for s in slot])
        result = made[value]
        target = None if target is None else sys.intern(target)
        self_ops, self_arity, self_leaf = self.ops, self.arity, self.leaf
        self_first, self_second = self.first, self.second
        self_starts, self_ends = self.starts, self.ends
        env = self.env

        def play(base: int) -> None:
            try:
                found = tuple(map(env.__getitem__, names))
            except KeyError:  # not met in this program yet: the calls, one by one
                _replay(self, calls, base)
                return
            r0 = len(self_ops)
            slots = (*range(r0, r0 + count), *found, 0)
            self_ops.extend(ops)
            self_arity.extend(arity)
            self_first.extend(get_first(slots))
            self_second.extend(get_second(slots))
            self_starts.extend(map(base.__add__, rel_starts))
            self_ends.extend(map(base.__add__, rel_ends))
            self_leaf.extend(leaves)
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
            # reference), kept as such (`finish` writes the input columns from them) and
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
            self_arity.extend(arity * runs)
            self_first.extend(zeros(runs * count))  # written by `finish`
            self_second.extend(zeros(runs * count))
            # Consecutive lines of the same text: the statements' offsets step by the
            # line's length, and so does each node's span along the run.
            step = rest[1] - rest[0] if runs > 1 else 1
            if rest == list(range(rest[0], rest[0] + step * runs, step)):
                for spans, rel in ((self_starts, rel_starts), (self_ends, rel_ends)):
                    spans.extend(zeros(runs * count))
                    for j, offset in enumerate(rel):
                        spans[start + j :: count] = progression(rest[0] + offset, step, runs)
            else:
                each = chain.from_iterable(map(repeat, rest, repeat(count)))
                self_starts.fromlist(list(map(add, each, cycle(rel_starts))))
                each = chain.from_iterable(map(repeat, rest, repeat(count)))
                self_ends.fromlist(list(map(add, each, cycle(rel_ends))))
            self_leaf.extend(leaves * runs)
            end = start + runs * count
            last = end - count + result
            if target is not None:
                env[target] = last
                self.run_names.append((start, count, runs * count, result, target))
            self.output = last
            self.first_ref = end

        return play_run

    def finish(self) -> Graph:
        """The graph, inputs first; the output is the last statement's value."""
        n, m = len(self.inputs), len(self.ops)
        # A reference's node id: the operators' come after the inputs'. Where many are
        # turned (outside the runs), by a table: the operators' ids, then the inputs'
        # backwards, so that ids[~k] is input k's.
        outside = m - sum(times * len(statement) for _, times, statement in self.runs)
        to_id = _to_id(n) if outside <= 4096 else _id_table(n, m).__getitem__
        # The columns are the maker's own, each made the graph's in place: the
        # inputs put first, each reference made an id.
        columns = (self.first, self.second)
        # Outside the runs, each input's reference becomes its id; a run's inputs are
        # made from their sequences, each node of the statement at a time.
        at = 0
        for start, runs, statement in [*self.runs, (m, 0, [])]:
            for column in columns:
                column[at:start] = array(INDEX, map(to_id, column[at:start]))
            count = len(statement)
            at = start + count * runs
            for j, sequences in enumerate(statement):
                where = slice(start + j, at, count)
                for k, (ref, step) in enumerate(sequences):
                    if step:
                        columns[k][where] = progression(n + ref, step, runs)
                    else:
                        columns[k][where] = array(INDEX, [to_id(ref)]) * runs
        for column in columns:
            column[:0] = zeros(n)
        more = {n + ref: tuple(map(to_id, args)) for ref, args in self.more.items()}
        self.input_starts.extend(self.starts)
        self.input_ends.extend(self.ends)
        self.ops[:0] = ["var"] * n
        self.arity[:0] = bytes(n)
        self.leaf[:0] = list(self.inputs)
        repeated = [
            (n + start, len(statement), times * len(statement))
            for start, times, statement in self.runs
        ]
        nodes = Columns(
            self.ops,
            bytes(self.arity),
            self.first,
            self.second,
            more,
            self.input_starts,
            self.input_ends,
            self.leaf,
            repeated,
        )
        # A name is given to the node its statement made: an operator's reference.
        names: Mapping[int, str] = dict(zip(map(n.__add__, self.names), self.names.values()))
        if self.run_names:
            runs_named = [
                (n + ref, count, total, at, nm) for ref, count, total, at, nm in self.run_names
            ]
            names = RunNames(dict(names), runs_named)
        output = to_id(self.output)
        del to_id  # and the table with it
        # The references are done with: let them go before the passes below.
        self.ops, self.arity, self.leaf, self.more, self.names = [], bytearray(), [], {}, {}
        self.run_names = []
        self.first, self.second, self.starts, self.ends = (array(INDEX) for _ in range(4))
        self.input_starts, self.input_ends, self.env, self.runs = array(INDEX), array(INDEX), {}, []
        forget_progressions()
        graph = Graph(nodes, output, self.inputs, self.source)
        depends = depends_on_inputs(graph)
        live = live_nodes(graph, depends)
        return Graph(nodes, output, self.inputs, self.source, depends, live, names)


def _to_id(n: int) -> Callable[[int], int]:
    """The node id of a reference, with n inputs: operators after the inputs."""
    return lambda ref: n + ref if ref >= 0 else ~ref


def _id_table(n: int, m: int) -> array:
    """Each reference's node id, by the reference (n inputs, m operators)."""
    ids, inputs = progression(n, 1, m), progression(0, 1, n)
    inputs.reverse()
    ids.extend(inputs)
    return ids


def _getter(positions: list[int]) -> Callable[[tuple[int, ...]], tuple[int, ...]]:
    """A function giving the tuple of the items at `positions` of a tuple."""
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
