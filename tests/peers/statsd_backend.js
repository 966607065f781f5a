// A backend for etsy statsd (loaded by path from the config's `backends` list) that appends
// each flush's metrics as one JSON line to the file named by the config's `potterFile`:
//
//   {"ts": 1700000000, "counters": {...}, "gauges": {...}, "timers": {"k": [1.25, ...]},
//    "timer_counts": {"k": 300}, "sets": {"k": ["9f3a..", ...]}}
//
// timer_counts is statsd's timer_data[k].count: samples / rate summed, what Graphite gets as
// the count. With `potterExitOnStdinClose`, statsd exits when its stdin closes, so that a test
// that dies does not leave it running.
'use strict';

const fs = require('fs');

exports.init = function (startupTime, config, events) {
  const file = config.potterFile;
  if (!file) {
    return false;
  }
  if (config.potterExitOnStdinClose) {
    process.stdin.on('end', function () { process.exit(0); });
    process.stdin.on('error', function () { process.exit(0); });
    process.stdin.resume();
  }
  events.on('flush', function (ts, metrics) {
    const timerCounts = {};
    for (const k in metrics.timer_data) {
      timerCounts[k] = metrics.timer_data[k].count;
    }
    const sets = {};
    for (const k in metrics.sets) {
      sets[k] = metrics.sets[k].values();
    }
    const line = JSON.stringify({
      ts: ts,
      counters: metrics.counters,
      gauges: metrics.gauges,
      timers: metrics.timers,
      timer_counts: timerCounts,
      sets: sets,
    }) + '\n';
    fs.appendFileSync(file, line); // one write; the reader takes whole lines only
  });
  return true;
};
