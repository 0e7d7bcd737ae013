"""Test app for `command`: GET /ready creates $PROBED_FILE, then answers once $GATE_FILE exists (the test decides
when); any other request is answered at once."""

import asyncio
import os

from unix_serve import serve


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if head.startswith(b"GET /ready "):
                with open(os.environ["PROBED_FILE"], "w"):
                    pass
                while not os.path.exists(os.environ["GATE_FILE"]):
                    await asyncio.sleep(0.01)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


if __name__ == "__main__":
    serve(handle)
