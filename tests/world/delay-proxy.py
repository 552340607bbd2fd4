#!/usr/bin/python3
"""TCP proxy of the lab world that adds latency (see README.md): the kernel has no sch_netem.

`delay-proxy.py --listen IP:PORT --to IP:PORT --delay-ms MS [--pidfile F]` accepts connections on
IP:PORT and forwards the bytes both ways to --to, delaying each chunk by MS milliseconds in each
direction, so one round trip through the proxy costs 2*MS. --listen/--to may be repeated
(paired in order) to serve several links from one process.

- Each direction is a FIFO of (due time, chunk): a chunk read at t is written at t + MS, in
  order, while later chunks are already being read; throughput is not serialized by the delay.
  The FIFO holds at most QUEUE_CHUNKS chunks (backpressure beyond that: the reader waits).
- The upstream connect is itself delayed by 2*MS: on a real link the TCP handshake is one
  round trip before the first byte (--no-connect-delay turns that off).
- EOF is forwarded (half-close) after the same delay; an error on either side closes both.
  If the upstream connect fails (refused, unreachable), the client's connection is reset.
- SIGTERM or SIGINT: stop listening, drop every connection, exit 0.
Python stdlib only.
"""

import argparse
import asyncio
import os
import signal
import socket
import struct
import sys

CHUNK = 1 << 16
QUEUE_CHUNKS = 64  # per direction: up to 4 MiB in flight


def addr(text):
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError("want IP:PORT, got %r" % text)
    return host.strip("[]"), int(port)


async def pump(reader, writer, delay, loop):
    """Copies reader to writer, each chunk delayed by `delay` seconds, order preserved."""
    queue = asyncio.Queue(QUEUE_CHUNKS)

    async def read_side():
        while True:
            try:
                data = await reader.read(CHUNK)
            except OSError as e:  # handed to the writer, which fails with it
                await queue.put((loop.time(), e))
                return
            await queue.put((loop.time() + delay, data))
            if not data:
                return

    async def write_side():
        while True:
            due, data = await queue.get()
            if isinstance(data, Exception):
                raise data
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    rd = asyncio.ensure_future(read_side())
    try:
        await write_side()
    finally:
        rd.cancel()


class Link:
    def __init__(self, listen, to, delay, connect_delay):
        self.listen, self.to = listen, to
        self.delay, self.connect_delay = delay, connect_delay
        self.tasks = set()

    async def handle(self, creader, cwriter):
        task = asyncio.current_task()
        self.tasks.add(task)
        loop = asyncio.get_running_loop()
        uwriter = None
        try:
            if self.connect_delay:
                await asyncio.sleep(2 * self.delay)
            try:
                ureader, uwriter = await asyncio.open_connection(*self.to)
            except OSError:
                # upstream refused or unreachable: reset the client (the closest we can get to
                # the refusal it would have seen, its own connection being accepted already)
                sock = cwriter.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                raise
            up = asyncio.ensure_future(pump(creader, uwriter, self.delay, loop))
            down = asyncio.ensure_future(pump(ureader, cwriter, self.delay, loop))
            pending = {up, down}
            try:
                while pending:
                    done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    if any(t.exception() is not None for t in done):
                        break  # one side failed: drop the connection
            finally:
                for t in (up, down):
                    t.cancel()
                await asyncio.gather(up, down, return_exceptions=True)
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            for w in (cwriter, uwriter):
                if w is not None:
                    w.close()
            self.tasks.discard(task)


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", type=addr, action="append", required=True, metavar="IP:PORT")
    ap.add_argument("--to", type=addr, action="append", required=True, metavar="IP:PORT")
    ap.add_argument("--delay-ms", type=float, required=True, metavar="MS")
    ap.add_argument("--no-connect-delay", action="store_true",
                    help="connect upstream at once (default: after 2*MS, the TCP handshake)")
    ap.add_argument("--pidfile", help="written once every listener is bound")
    a = ap.parse_args()
    if len(a.listen) != len(a.to):
        ap.error("--listen and --to must come in pairs")
    if not 0 <= a.delay_ms <= 60000:
        ap.error("--delay-ms must be in 0..60000")

    delay = a.delay_ms / 1000.0
    links = [Link(lst, to, delay, not a.no_connect_delay) for lst, to in zip(a.listen, a.to)]
    servers = []
    for link in links:
        servers.append(await asyncio.start_server(
            link.handle, link.listen[0], link.listen[1], backlog=1024,
            family=socket.AF_INET6 if ":" in link.listen[0] else socket.AF_INET,
            reuse_address=True))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if a.pidfile:
        with open(a.pidfile + ".tmp", "w") as f:
            f.write("%d\n" % os.getpid())
        os.replace(a.pidfile + ".tmp", a.pidfile)
    for link in links:
        print("delay-proxy: %s:%d -> %s:%d, %g ms each way"
              % (link.listen + link.to + (a.delay_ms,)), file=sys.stderr, flush=True)

    await stop.wait()
    for s in servers:
        s.close()
    tasks = [t for link in links for t in link.tasks]
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main())
