# A minimal HTTP/1.1 keep-alive API for scripts/ssh-tail/run: one fixed JSON answer.
import asyncio
BODY=b'{"ok":true}'
RESP=b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: application/json\r\n\r\n%s" % (len(BODY), BODY)
async def handle(r, w):
    try:
        while True:
            line = await r.readuntil(b"\r\n\r\n")
            w.write(RESP)
            await w.drain()
    except Exception:
        pass
    w.close()
async def main():
    s = await asyncio.start_server(handle, "127.0.0.1", 8000)
    async with s: await s.serve_forever()
asyncio.run(main())
