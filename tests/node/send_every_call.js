// Sends every call type with @segment/analytics-node to the collector at argv[2] and prints
// each request body as sent (one JSON string per line), for test_collector_clients.py.
const { Analytics } = require('@segment/analytics-node')

const [host, writeKey, unicode, when] = process.argv.slice(2)
const analytics = new Analytics({ writeKey, host, maxEventsInBatch: 20, flushInterval: 50 })
analytics.on('http_request', (request) => console.log(request.body))  // the JSON text as sent
analytics.on('error', (error) => { console.error('error', error); process.exitCode = 1 })

const context = { ip: '203.0.113.9', locale: 'de-DE', campaign: { name: unicode } }
const integrations = { All: false, Mixpanel: true }
const timestamp = new Date(when)
analytics.identify({ userId: 'u-1', traits: { email: 'ada@example.com', plan: 'pro', nick: unicode }, context, integrations, timestamp, messageId: 'id-identify' })
analytics.track({ userId: 'u-1', event: 'Order Completed', properties: { revenue: 42.5, currency: 'EUR', items: [{ sku: 'a', qty: 2 }], gift: null, note: unicode }, context, integrations, timestamp, messageId: 'id-track' })
analytics.page({ userId: 'u-1', category: 'Docs', name: 'Intro', properties: { url: 'https://example.com/docs' }, context, timestamp, messageId: 'id-page' })
analytics.screen({ userId: 'u-1', name: 'Cart', properties: { items: 2 }, timestamp, messageId: 'id-screen' })
analytics.group({ userId: 'u-1', groupId: 'acme', traits: { name: 'Acme', employees: 12 }, timestamp, messageId: 'id-group' })
analytics.alias({ previousId: 'anon-7', userId: 'u-1', timestamp, messageId: 'id-alias' })
// 5,500 CJK characters: 16.5 KB as UTF-8, 33 KB if re-encoded with \u escapes.
analytics.track({ userId: 'u-1', event: 'Big Unicode', properties: { text: '東'.repeat(5500) }, messageId: 'id-big' })
analytics.closeAndFlush({ timeout: 20000 }).then(() => process.exit(process.exitCode || 0))
