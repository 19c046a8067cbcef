"""``Testbed``: 1-5 "Mac Studios" on one Linux box, for tests and for trying a cluster.

Each node is a network namespace with ``lo``, an "Ethernet" port ``en0`` on a bridge in the root
namespace (IPv4 only: MLX's ring sockets are IPv4) and its own OpenSSH sshd. Thunderbolt cables
are veth pairs between two nodes, named like a Mac's ports (en2, en3, ...), carrying IPv6
link-local (fe80) addresses only. The orchestrator stays in the root namespace and reaches the
nodes over SSH; what runs through a node's sshd runs in that node's namespace (the filesystem,
and so the Python venv, is shared).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

from odyssai.names import check_name

from . import links, plan, reboot, registry, state, system
from .build import build, build_cable
from .errors import TestbedError
from .plan import Cable, CableSpec
from .requirements import testbed_missing
from .sshd import answers, check_state_dir, client_key, known_hosts, node_dir, ssh_argv, wait_answers
from .teardown import cleanup_leftovers, teardown

DEFAULT_NAME = "testbed"


def default_state_dir(name: str) -> Path:
    """``$ODYSSAI_HOME/testbed/<name>``."""
    from odyssai.settings import load_settings

    return load_settings().home / "testbed" / name


def current_home() -> str | None:
    """This process's ``ODYSSAI_HOME``, resolved (None when the settings cannot be read)."""
    from odyssai.errors import OdyssaiError
    from odyssai.settings import load_settings

    try:
        return str(load_settings().home.expanduser().resolve())
    except OdyssaiError:
        return None


class Testbed:
    """A cluster of namespace "nodes" with sshd and Thunderbolt-like cables.

    ``Testbed(nodes=3)`` plans a full mesh; ``up()`` builds it, ``down()`` removes every part
    of it. ``cables`` is a list of ``Cable`` or ``(node_a, node_b)`` pairs (ports taken in order).
    """

    __test__ = False  # not a pytest test class

    def __init__(self, nodes: int | Sequence[str] = 3, cables: Sequence[CableSpec] | None = None, *,
                 name: str | None = None, state_dir: str | Path | None = None):
        self.node_names: list[str] = plan.node_names(nodes)
        self.cables: list[Cable] = plan.plan_cables(self.node_names, cables)
        self._wanted_id = plan.new_id()
        self.name = name or f"tb-{self._wanted_id}"
        try:
            check_name(self.name, "testbed name")
        except ValueError as e:
            raise TestbedError(str(e)) from None
        self.state_dir: Path | None = Path(state_dir).expanduser().absolute() if state_dir else None
        self._record: state.Record | None = None
        self._helpers: list[subprocess.Popen[bytes]] = []

    # --- life cycle -------------------------------------------------------------------

    @classmethod
    def open(cls, name: str | None = None, *, state_dir: str | Path | None = None,
             stale_ok: bool = False) -> "Testbed":
        """The testbed that is up under ``name`` (or in ``state_dir``), e.g. made by ``odyssai testbed up``.

        Without ``name`` it is the testbed named ``testbed``, but only if it was made from this
        ``ODYSSAI_HOME``: the registry is machine-wide, and a default must not reach someone else's.

        :param stale_ok: also open a state file that no registered testbed owns any more (left
            by a machine reboot or a crash), so that ``down()`` can clear it.
        """
        if state_dir is None:
            default = name is None
            name = name or DEFAULT_NAME
            entry = registry.find(name=name)
            if entry and default and entry.home and entry.home != current_home():
                raise TestbedError(f"the testbed named {name!r} was made from another ODYSSAI_HOME ({entry.home})",
                                   hint=f"pass --name {name} to act on it anyway")
            state_dir = Path(entry.state_dir) if entry else default_state_dir(name)
        what = f"no testbed named {name!r} is up" if name else f"no testbed is up in {state_dir}"
        try:
            record = state.load(Path(state_dir))
        except TestbedError:
            if (Path(state_dir) / state.STATE_FILE).exists():
                raise  # there, but unreadable: say so
            up = sorted(e.name for e in registry.entries() if e.live)
            raise TestbedError(what, hint=f"testbeds up: {', '.join(up)}" if up
                               else "none is; start one: odyssai testbed up") from None
        if not stale_ok and record.id not in {e.id for e in registry.entries()}:
            raise TestbedError(f"testbed {record.name!r} is not up (its state in {state_dir} is stale)",
                               hint=f"'odyssai testbed down --name {record.name}' clears it")
        tb = cls(record.nodes, record.cables, name=record.name, state_dir=record.state_dir)
        tb._record = record
        tb.cables = record.cables  # one list: what move() changes is what the state file says
        return tb

    def up(self, *, persistent: bool = False, timeout: float = 15.0) -> "Testbed":
        """Build the testbed. Undone completely if any step fails.

        :param persistent: outlive this process (``odyssai testbed up``); otherwise the testbed is
            a leftover once this process is gone, torn down at exit or by the next ``up``.
        :param timeout: seconds to wait for every sshd and fe80 address.
        """
        if self._record is not None:
            raise TestbedError(f"testbed {self.name!r} is already up")
        missing = testbed_missing()
        if missing:
            raise TestbedError(missing)
        state_dir = check_state_dir(self.state_dir or default_state_dir(self.name))
        self.state_dir = state_dir
        with contextlib.suppress(TestbedError):  # what cannot be removed keeps its id and subnet
            cleanup_leftovers()
        entry = registry.claim(self.name, state_dir, persistent=persistent, wanted_id=self._wanted_id,
                               home=current_home())
        self._record = state.Record(entry.id, self.name, state_dir, entry.subnet, self.node_names,
                                    self.cables, persistent)
        if not persistent:
            atexit.register(self._down_at_exit)
        try:
            build(self._record, timeout)
        except BaseException:
            with contextlib.suppress(Exception):
                self.down()
            raise
        return self

    def down(self) -> None:
        """Remove everything: processes, sshd, namespaces, interfaces, the bridge, the registration."""
        record = self._record
        if record is None:
            return
        teardown(record.id, record.state_dir)
        for helper in self._helpers:
            with contextlib.suppress(Exception):
                helper.wait(timeout=5)
        self._helpers.clear()
        self._record = None
        atexit.unregister(self._down_at_exit)

    def _down_at_exit(self) -> None:
        with contextlib.suppress(Exception):
            self.down()

    def __enter__(self) -> "Testbed":
        if self._record is None:
            self.up()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.down()

    @property
    def is_up(self) -> bool:
        return self._record is not None

    @property
    def record(self) -> state.Record:
        if self._record is None:
            raise TestbedError(f"testbed {self.name!r} is not up", hint="call up() first")
        return self._record

    @property
    def id(self) -> str:
        """The short id in every namespace and interface name of this testbed."""
        return self.record.id

    @property
    def subnet(self) -> str:
        return self.record.subnet

    # --- nodes ------------------------------------------------------------------------

    def namespace(self, node: str) -> str:
        """The network namespace of ``node``."""
        return self.record.namespace(node)

    def node_ip(self, node: str) -> str:
        """The node's Ethernet IPv4 (its SSH host and its ring address)."""
        return self.record.node_ip(node)

    @property
    def root_ip(self) -> str:
        """The orchestrator's (root namespace's) address on the bridge."""
        return plan.root_ip(self.record.subnet)

    @property
    def identity_file(self) -> Path:
        """The SSH private key every node accepts."""
        return client_key(self.record.state_dir)

    @property
    def known_hosts(self) -> Path:
        """``known_hosts`` with every node's host key."""
        return known_hosts(self.record.state_dir)

    def node_dir(self, node: str) -> Path:
        """``STATE/nodes/<node>``: the node's sshd files, logs and ``models`` dir."""
        self.record.index(node)
        return node_dir(self.record.state_dir, node)

    def exec(self, node: str, argv: Sequence[str], **kw: Any) -> subprocess.CompletedProcess[Any]:
        """Run ``argv`` inside ``node``'s namespace (``subprocess.run``; output captured as text)."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("timeout", 60)
        return subprocess.run(system.netns_exec(self.namespace(node), list(argv)), **kw)

    def pids(self, node: str) -> list[int]:
        """Pids of every process running in ``node``'s namespace."""
        return system.namespace_pids(self.namespace(node))

    def ssh_argv(self, node: str, *cmd: str, known_hosts: str | Path | None = None) -> list[str]:
        """``ssh`` argv to ``root@node`` with host-key checking on; ``cmd`` words are quoted."""
        return ssh_argv(self.node_ip(node), self.identity_file, Path(known_hosts or self.known_hosts), cmd)

    def ssh_answers(self, node: str) -> bool:
        """Does ``node``'s sshd answer right now?"""
        return answers(self.node_ip(node))

    def wait_ssh(self, node: str, timeout: float = 15.0) -> None:
        """Wait until ``node``'s sshd answers (after ``up`` or a reboot)."""
        wait_answers(self.node_ip(node), f"the sshd of {node}", timeout, self.node_dir(node) / "sshd.log")

    def reboot(self, node: str, delay: float = 1.0) -> None:
        """Kill everything in ``node``'s namespace now; its sshd comes back after ``delay`` seconds."""
        reboot.kill_node(self.record, node)
        self._helpers.append(reboot.spawn_helper(self.record.state_dir, node, delay=delay, grace=0))

    def reboot_command(self, node: str, *, python: str | None = None, delay: float = 1.0) -> str:
        """The shell line that reboots ``node`` when run on it over SSH."""
        self.record.index(node)
        return reboot.reboot_command(self.record.state_dir, node, python=python, delay=delay)

    # --- Thunderbolt ports and cables ---------------------------------------------------

    def ports(self, node: str) -> list[str]:
        """``node``'s Thunderbolt ports that have a cable (en2, en3, ...)."""
        self.record.index(node)
        return plan.ports_of(node, self.cables)

    def link_local(self, node: str, port: str) -> str | None:
        """The usable fe80 address of ``node``'s ``port``, or None."""
        return links.link_local(self.namespace(node), port)

    def is_plugged(self, node: str, port: str) -> bool:
        """Is ``node``'s end of the cable on ``port`` plugged in (admin up)?"""
        return links.is_plugged(self.namespace(node), port)

    def is_fresh(self, node: str) -> bool:
        """Does ``node`` make no fe80 on its Thunderbolt ports (like a Mac on bridge0)?"""
        ports = self.ports(node)
        return bool(ports) and all(links.addrgenmode(self.namespace(node), p) == "none" for p in ports)

    def cable(self, node_a: str, node_b: str) -> Cable:
        """The one cable between ``node_a`` and ``node_b``."""
        found = [c for c in self.cables if {c.node_a, c.node_b} == {node_a, node_b}
                 and (node_a != node_b or c.node_a == c.node_b)]
        if len(found) != 1:
            what = "no cable" if not found else f"{len(found)} cables"
            raise TestbedError(f"{what} between {node_a} and {node_b}",
                               hint="cables are: " + (", ".join(map(str, self.cables)) or "none"))
        return found[0]

    def _resolve(self, cable: Cable | Sequence[str]) -> Cable:
        if isinstance(cable, Cable):
            for c in self.cables:
                if c.ends == cable.ends:
                    return c
            raise TestbedError(f"no cable {cable} in testbed {self.name!r}")
        a, b = cable
        return self.cable(a, b)

    def _ends(self, cable: Cable, end: str | None) -> list[tuple[str, str]]:
        if end is None:
            return list(dict.fromkeys(cable.ends))
        if end not in (cable.node_a, cable.node_b):
            raise TestbedError(f"cable {cable} has no end on {end!r}")
        return [e for e in cable.ends if e[0] == end][:1]

    def pull(self, cable: Cable | Sequence[str], *, end: str | None = None) -> None:
        """Pull a cable out (both ends, or only the one on node ``end``): its link goes down."""
        c = self._resolve(cable)
        for node, port in self._ends(c, end):
            system.ip("link", "set", port, "down", netns=self.namespace(node))

    def plug(self, cable: Cable | Sequence[str], *, end: str | None = None, timeout: float = 5.0) -> None:
        """Plug a cable back in (both ends, or only ``end``); waits for its fe80 addresses."""
        c = self._resolve(cable)
        for node, port in self._ends(c, end):
            system.ip("link", "set", port, "up", netns=self.namespace(node))
        links.wait_link_local(self.record, [c], timeout)

    def make_fresh(self, node: str) -> None:
        """Make ``node`` fresh: no fe80 on any Thunderbolt port (what macOS's bridge0 does)."""
        ns = self.namespace(node)
        for port in self.ports(node):
            system.ip("link", "set", "dev", port, "addrgenmode", "none", netns=ns)
            system.ip("-6", "addr", "flush", "dev", port, "scope", "link", netns=ns)

    def make_onboarded(self, node: str, timeout: float = 5.0) -> None:
        """Undo ``make_fresh``: every plugged-in port of ``node`` gets its fe80 again."""
        ns = self.namespace(node)
        for port in self.ports(node):
            system.ip("link", "set", "dev", port, "addrgenmode", "eui64", netns=ns)
            if self.is_plugged(node, port):  # a link going up is what makes the kernel add fe80
                system.ip("link", "set", port, "down", netns=ns)
                system.ip("link", "set", port, "up", netns=ns)
        links.wait_link_local(self.record, [c for c in self.cables if node in (c.node_a, c.node_b)], timeout)

    def move(self, cable: Cable | Sequence[str], *, end: str, port: str | None = None, node: str | None = None,
             timeout: float = 5.0) -> Cable:
        """Move one end of a cable: unplug it from node ``end`` and plug it into ``port`` of ``node``.

        ``node`` defaults to ``end`` (another port of the same node), ``port`` to that node's first
        free port. The cable comes back as a new veth pair (new MAC and fe80 addresses, as a real
        cable's ends keep their ports' but the neighbour tables start afresh), the moved end
        plugged in, the other end as plugged as it was, no fe80 on a fresh node's end. The state
        file says so at once, so ``status``, ``down`` and ``Testbed.open`` see the new cable.
        Returns the cable as it is now.
        """
        r = self.record
        old = self._resolve(cable)
        new = plan.move_cable(r.nodes, self.cables, old, end=end, port=port, node=node)
        stays = next(e for e in new.ends if e in old.ends)
        up = {e: (self.is_plugged(*e) if e == stays else True) for e in new.ends}
        new = dataclasses.replace(new, up_a=up[new.ends[0]], up_b=up[new.ends[1]])
        fresh = {n for n in (new.node_a, new.node_b) if self.is_fresh(n)}
        k = next(i for i, c in enumerate(self.cables) if c.ends == old.ends)
        self.cables[k] = new
        if r.cables is not self.cables:
            r.cables[k] = new
        r.save()
        system.ip("link", "del", "dev", old.port_a, netns=self.namespace(old.node_a))  # takes its peer along
        try:
            build_cable(r, k, new, fresh)
        except TestbedError as e:
            for t in (plan.cable_temp(r.id, k, "a"), plan.cable_temp(r.id, k, "b")):
                system.ip("link", "del", t, check=False)
            raise TestbedError(f"moving cable {old} to {new} failed: {e}",
                               hint="its ports may be gone; 'odyssai testbed down' removes it all") from None
        links.wait_link_local(r, [new], timeout)
        return new

    def one_sided(self, cable: Cable | Sequence[str], *, deaf_end: str) -> None:
        """Make a cable one-sided: its end on node ``deaf_end`` stops seeing the other end as a
        neighbour, while the other end still sees it (a cable "seen from one end only").

        The other end's port drops the neighbour solicitations and advertisements it sends
        (``tc``); both ends' neighbour tables are emptied. ``two_sided`` undoes it.
        """
        c = self._resolve(cable)
        [(deaf, deaf_port)] = self._ends(c, deaf_end)
        talker, talker_port = c.peer_of(deaf, deaf_port)
        for n, p in c.ends:
            links.unmute_nd(self.namespace(n), p)
        links.mute_nd(self.namespace(talker), talker_port)
        for n, p in c.ends:
            links.forget_neighbours(self.namespace(n), p)

    def two_sided(self, cable: Cable | Sequence[str]) -> None:
        """Undo ``one_sided``: both ends see each other again at the next neighbour discovery."""
        c = self._resolve(cable)
        for n, p in c.ends:
            links.unmute_nd(self.namespace(n), p)
        for n, p in c.ends:  # a deaf end's unanswered solicitation would hold it back for seconds
            links.forget_neighbours(self.namespace(n), p)

    def is_deaf(self, node: str, port: str) -> bool:
        """Is the end ``(node, port)`` of its cable deaf (``one_sided``): does it not see its peer?"""
        for c in self.cables:
            if (node, port) in c.ends:
                peer_node, peer_port = c.peer_of(node, port)
                return links.is_muted(self.namespace(peer_node), peer_port)
        raise TestbedError(f"{node}:{port} has no cable",
                           hint="cables are: " + (", ".join(map(str, self.cables)) or "none"))

    def deaf_ends(self) -> set[tuple[str, str]]:
        """Every cable end (node, port) that does not see its peer (``one_sided``)."""
        return {(n, p) for c in self.cables for n, p in c.ends if self.is_deaf(n, p)}

    def plugged(self) -> dict[tuple[str, str], bool]:
        """Every cable end (node, port) and whether it is plugged in now."""
        return {(n, p): self.is_plugged(n, p) for c in self.cables for n, p in c.ends}

    def rdma_to(self) -> dict[str, dict[str, str]]:
        """The ``rdma_to`` matrix a correct discovery finds now (cables with both ends plugged;
        a one-sided cable in the one direction that is seen)."""
        return plan.rdma_to(self.cables, self.plugged(), self.deaf_ends())

    # --- topology ---------------------------------------------------------------------

    def cluster(self, *, python: str | None = None, backend: str = "ring", reboot_delay: float = 1.0) -> Any:
        """This testbed as an ``odyssai.topology.Cluster`` (``rdma_to`` included for jaccl)."""
        from odyssai.topology import Cluster, Node

        python = python or sys.executable
        nodes = [Node(name=n, host=self.node_ip(n), port=22, user="root", ip=self.node_ip(n), python=python,
                      models_dir=str(self.node_dir(n) / "models"),
                      reboot_command=self.reboot_command(n, python=python, delay=reboot_delay),
                      identity_file=str(self.identity_file), known_hosts=str(self.known_hosts), spawner="ssh")
                 for n in self.node_names]
        return Cluster(backend=backend, nodes=nodes, rdma_to=self.rdma_to() if backend == "jaccl" else None)

    def check_topology(self, path: str | Path, cluster: str = "testbed") -> Path:
        """Refuse (``TestbedError``) if ``path`` has a cluster ``cluster`` that is not this testbed's.

        Works before ``up()`` too, so that nothing is built for a topology that cannot be written.
        """
        from odyssai.topology import load_topology

        from .teardown import owns_cluster

        path = Path(path).expanduser().absolute()
        existing = load_topology(path).clusters.get(cluster)
        state_dir = self._record.state_dir if self._record else (self.state_dir or default_state_dir(self.name))
        if existing is not None and not owns_cluster(existing, state_dir):
            raise TestbedError(f"{path} already has a cluster {cluster!r} that is not this testbed's; "
                               "it is left as it is",
                               hint="choose another cluster name (odyssai testbed up --cluster NAME)")
        return path

    def write_topology(self, path: str | Path, cluster: str = "testbed", *, python: str | None = None,
                       backend: str = "ring", reboot_delay: float = 1.0) -> Path:
        """Write this testbed as cluster ``cluster`` into the topology file ``path`` (others kept).

        ``down()`` removes that cluster again, if it still describes this testbed. A cluster of that
        name that is not this testbed's (a real one, another testbed's) is never replaced.
        """
        from odyssai.topology import save_clusters

        path = self.check_topology(path, cluster)
        save_clusters(path, {cluster: self.cluster(python=python, backend=backend, reboot_delay=reboot_delay)})
        entry = {"path": str(path), "cluster": cluster}
        if entry not in self.record.topologies:
            self.record.topologies.append(entry)
            self.record.save()
        return path

    def __repr__(self) -> str:
        where = f"up as {self._record.id} on {self._record.subnet}" if self._record else "down"
        return f"<Testbed {self.name!r} {len(self.node_names)} nodes, {len(self.cables)} cables, {where}>"
