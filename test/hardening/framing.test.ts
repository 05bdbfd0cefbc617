import t, { type Test } from 'tap'
import { listen } from '../helper.js'
import { OP, closePayload, frame, rawConnect } from './raw.js'

t.test('RFC 6455 framing over raw sockets', async (t) => {
  // one server for every case: dozens of upgrades from one address in a few seconds
  const { port } = await listen(t, { UPGRADE_RATE_PER_SEC: '10000', UPGRADE_RATE_BURST: '10000' })
  const expectClose = async (t: Test, name: string, bytes: Buffer[], code: number) => {
    const c = await rawConnect(port)
    t.teardown(() => c.destroy())
    for (const b of bytes) c.send(b)
    t.equal(await c.closeCode(), code, name)
  }

  t.test('protocol errors close with 1002', async (t) => {
    await expectClose(t, 'reserved bit set', [frame({ opcode: OP.text, payload: 'x', rsv: 0x40 })], 1002)
    await expectClose(t, 'unknown opcode 0x3', [frame({ opcode: 0x3, payload: 'x' })], 1002)
    await expectClose(t, 'unknown control opcode 0xb', [frame({ opcode: 0xb })], 1002)
    await expectClose(t, 'unmasked client frame', [frame({ opcode: OP.text, payload: 'x', mask: false })], 1002)
    await expectClose(t, 'control frame over 125 bytes', [frame({ opcode: OP.ping, payload: Buffer.alloc(126) })], 1002)
    await expectClose(t, 'fragmented control frame', [frame({ opcode: OP.ping, payload: 'p', fin: false })], 1002)
    await expectClose(t, 'continuation without a start', [frame({ opcode: OP.cont, payload: 'x' })], 1002)
    await expectClose(t, 'a new message inside a fragmented one', [frame({ opcode: OP.text, payload: 'a', fin: false }), frame({ opcode: OP.text, payload: 'b' })], 1002)
  })

  t.test('ping payload comes back in the pong, also between fragments', async (t) => {
    const c = await rawConnect(port)
    t.teardown(() => c.destroy())
    c.send(frame({ opcode: OP.ping, payload: 'hello-ping' }))
    t.equal(String((await c.next((f) => f.opcode === OP.pong))?.payload), 'hello-ping')
    c.send(frame({ opcode: OP.text, payload: 'frag', fin: false }))
    c.send(frame({ opcode: OP.ping, payload: 'inside' }))
    c.send(frame({ opcode: OP.cont, payload: 'mented' }))
    t.equal(String((await c.next((f) => f.opcode === OP.pong && String(f.payload) === 'inside'))?.payload), 'inside')
    t.equal(String((await c.next((f) => f.opcode === OP.text))?.payload), 'fragmented')
  })

  t.test('UTF-8 split inside a character is accepted; invalid UTF-8 across fragments is 1007', async (t) => {
    const euro = Buffer.from('€') // e2 82 ac
    const c = await rawConnect(port)
    t.teardown(() => c.destroy())
    c.send(frame({ opcode: OP.text, payload: euro.subarray(0, 2), fin: false }))
    c.send(frame({ opcode: OP.cont, payload: euro.subarray(2) }))
    t.equal(String((await c.next((f) => f.opcode === OP.text))?.payload), '€')
    await expectClose(t, 'invalid UTF-8 across fragments', [
      frame({ opcode: OP.text, payload: euro.subarray(0, 2), fin: false }), frame({ opcode: OP.cont, payload: 'A' })
    ], 1007)
  })

  t.test('close frames: invalid codes are 1002, a non-UTF-8 reason is 1007, valid codes are echoed', async (t) => {
    for (const code of [0, 999, 1004, 1005, 1006, 1015, 5000]) {
      await expectClose(t, `close code ${code}`, [frame({ opcode: OP.close, payload: closePayload(code) })], 1002)
    }
    await expectClose(t, 'close reason that is not UTF-8', [frame({ opcode: OP.close, payload: closePayload(1000, Buffer.from([0xff, 0xfe])) })], 1007)
    for (const code of [1000, 1001, 3000, 4999]) {
      await expectClose(t, `valid code ${code} is echoed`, [frame({ opcode: OP.close, payload: closePayload(code, 'bye') })], code)
    }
    const c = await rawConnect(port)
    t.teardown(() => c.destroy())
    c.send(frame({ opcode: OP.close }))
    const reply = await c.next((f) => f.opcode === OP.close)
    t.equal(reply?.payload.length, 0, 'a close without a code is answered without one: 1005 never goes on the wire')
  })

  t.test('a frame announcing 2^63 bytes is refused at once, without buffering', async (t) => {
    const c = await rawConnect(port)
    t.teardown(() => c.destroy())
    const before = process.memoryUsage().heapUsed
    c.send(frame({ opcode: OP.binary, announce: 2n ** 63n }))
    const code = await c.closeCode(2000)
    t.ok(code === 1009 || code === 1002, `closed with ${String(code)}`)
    t.ok(process.memoryUsage().heapUsed - before < 16 * 1024 * 1024, 'nothing was buffered for it')
  })
})
