import t from 'tap'
import { IntervalGroups } from '../../../src/time/interval-groups.js'
import { waitFor } from '../../helper.js'

t.test('one timer per interval, gone with its last member', async (t) => {
  const ticks: number[] = []
  const g = new IntervalGroups<string>((members, ms) => { ticks.push(ms * 1000 + members.size) })
  const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
  g.add(100, 'a'); g.add(100, 'b'); g.add(250, 'c')
  t.equal(g.timers, 2)
  t.equal(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length, timersBefore + 2)
  await waitFor(() => ticks.includes(100 * 1000 + 2), 'a tick of the 100 ms group')
  t.ok(ticks.includes(100 * 1000 + 2), 'one tick fans out to both members')
  g.delete(100, 'a')
  t.equal(g.timers, 2)
  g.delete(100, 'b'); g.delete(250, 'c'); g.delete(250, 'c')
  t.equal(g.timers, 0)
  t.equal(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length, timersBefore, 'no timer leaks')
})
