/**
 * `npm run seed [-- --customers 3000 --seed 42]`: loads a realistic demo data set — customers
 * with Korean and English names, a year of interactions across every channel — so GraphiQL has
 * something to show. It writes to the same database `npm start` uses (the embedded engine,
 * even while the API is running on it, or MONGODB_URI), into an empty database only.
 *
 * It is a bulk import: documents are built in memory and inserted in batches, with every
 * aggregate and segment computed by the same functions the live write path uses. Events are
 * not emitted for imported history (subscribers see what happens from now on); the analytics
 * counters are then rebuilt from the imported facts (`npm run analytics:rebuild`), so the
 * dashboard shows the year.
 */
import { Types } from 'mongoose';
import { loadConfig } from '../src/config.js';
import { connectDatabase, disconnectDatabase } from '../src/db/connection.js';
import { startEmbeddedDbIfNeeded } from '../src/db/embedded.js';
import { findRunningEngine } from '../src/db/ferretdb/engine.js';
import { ensureIndexes } from '../src/app/indexes.js';
import { nextSequence } from '../src/db/counters.js';
import { Customer, type CustomerDoc } from '../src/modules/customers/model.js';
import { searchKeysFor } from '../src/modules/customers/normalize.js';
import { describeRebuild } from '../src/modules/analytics/rebuild.js';
import { createDomain } from '../src/app/domain.js';
import { CHANNELS, Interaction, type InteractionDoc, type InteractionType } from '../src/modules/interactions/model.js';
import { SegmentChange, type SegmentChangeDoc } from '../src/modules/segments/model.js';
import { systemClock } from '../src/shared/clock.js';
import { createLogger } from '../src/shared/logger.js';
import { seededRandom } from '../src/shared/prng.js';
import { segmentHistory } from './seed-history.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} takes a whole number`);
  return v;
}

const KOREAN_FAMILY = ['김', '이', '박', '최', '정', '강', '조', '윤', '장', '임', '한', '오', '서', '신', '권'];
const KOREAN_GIVEN = [
  '민',
  '서',
  '지',
  '현',
  '준',
  '우',
  '예',
  '하',
  '도',
  '윤',
  '수',
  '영',
  '진',
  '은',
  '유',
  '나',
  '태',
  '희',
  '연',
  '호',
];
const ENGLISH_FIRST = [
  'Olivia',
  'Liam',
  'Emma',
  'Noah',
  'Ava',
  'James',
  'Sophia',
  'Lucas',
  'Mia',
  'Ethan',
  'Grace',
  'Daniel',
  'Chloe',
  'Henry',
  'Ella',
];
const ENGLISH_LAST = [
  'Smith',
  'Johnson',
  'Brown',
  'Taylor',
  'Wilson',
  'Clark',
  'Lewis',
  'Walker',
  'Hall',
  'Young',
  'King',
  'Wright',
];
const ROMANISED_FAMILY = ['Kim', 'Lee', 'Park', 'Choi', 'Jung', 'Kang', 'Cho', 'Yoon', 'Jang', 'Lim'];
const ROMANISED_GIVEN = [
  'Minji',
  'Seojun',
  'Jiwoo',
  'Hayoon',
  'Doyun',
  'Seoyeon',
  'Yuna',
  'Jihoon',
  'Eunji',
  'Taeyang',
];
const DESCRIPTIONS: Record<InteractionType, string[]> = {
  PURCHASE: ['online order', 'in-store purchase', 'app order', 'gift card', 'subscription renewal'],
  INQUIRY: ['asked about delivery times', 'asked about sizes', 'asked for a quote', 'asked about opening hours'],
  COMPLAINT: ['late delivery', 'damaged item', 'wrong item received', 'rude staff'],
  SUPPORT: ['password reset', 'return processed', 'exchange arranged', 'warranty claim'],
  MARKETING: ['spring newsletter', 'VIP event invitation', 'birthday coupon', 'win-back offer'],
};

async function main(): Promise<void> {
  const customersWanted = arg('customers', 3000);
  const random = seededRandom(arg('seed', 42));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

  const config = loadConfig();
  const logger = createLogger('warn');
  const running = config.mongodbUri ? null : await findRunningEngine(config.dataDir);
  const database = running
    ? { uri: running, kind: 'embedded' as const, engine: undefined }
    : await startEmbeddedDbIfNeeded(config, logger);
  await connectDatabase({ uri: database.uri, dbName: config.mongodbDb, maxPoolSize: config.mongodbMaxPoolSize });
  try {
    if (await Customer.exists({})) {
      console.error(
        `The database "${config.mongodbDb}" already has customers: seed loads into an empty database only (set MONGODB_DB to another name).`,
      );
      process.exitCode = 1;
      return;
    }
    await ensureIndexes();
    const domain = createDomain({ config, clock: systemClock, logger });
    const policy = await domain.segments.getPolicy();
    const now = systemClock.now();
    const day = 86_400_000;
    const lastCode = await nextSequence('customer_code', customersWanted);
    const firstCode = lastCode - customersWanted + 1;
    let interactionTotal = 0;

    for (let start = 0; start < customersWanted; start += 500) {
      const customers: CustomerDoc[] = [];
      const interactions: InteractionDoc[] = [];
      const segmentChanges: SegmentChangeDoc[] = [];
      for (let i = start; i < Math.min(start + 500, customersWanted); i++) {
        const style = random();
        const name =
          style < 0.6
            ? `${pick(KOREAN_FAMILY)}${pick(KOREAN_GIVEN)}${pick(KOREAN_GIVEN)}`
            : style < 0.8
              ? `${pick(ROMANISED_FAMILY)} ${pick(ROMANISED_GIVEN)}`
              : `${pick(ENGLISH_FIRST)} ${pick(ENGLISH_LAST)}`;
        const code = `C${String(firstCode + i).padStart(5, '0')}`;
        const email =
          random() < 0.85
            ? `${code.toLowerCase()}.${name.replace(/[^A-Za-z]/g, '').toLowerCase() || 'customer'}@example.com`
            : undefined;
        const phone = random() < 0.8 ? `+8210${String(10_000_000 + Math.floor(random() * 89_999_999))}` : undefined;
        const joinedAt = new Date(now.getTime() - Math.floor(random() * 420 * day));
        // Some customers go quiet: their activity stops well before today.
        const activeUntil =
          random() < 0.25 ? joinedAt.getTime() + random() * (now.getTime() - joinedAt.getTime()) * 0.5 : now.getTime();
        const intensity = random() < 0.1 ? 40 : random() < 0.4 ? 15 : 5;
        const count = Math.floor(random() * intensity);
        const _id = new Types.ObjectId();
        let total = 0;
        let purchases = 0;
        let last: Date | null = null;
        for (let k = 0; k < count; k++) {
          const occurredAt = new Date(joinedAt.getTime() + random() * Math.max(0, activeUntil - joinedAt.getTime()));
          const r = random();
          const type: InteractionType =
            r < 0.45 ? 'PURCHASE' : r < 0.65 ? 'INQUIRY' : r < 0.75 ? 'SUPPORT' : r < 0.82 ? 'COMPLAINT' : 'MARKETING';
          const amountMinor =
            type === 'PURCHASE'
              ? intensity === 40 && random() < 0.3
                ? 100_000 + Math.floor(random() * 900) * 1_000
                : 5_000 + Math.floor(random() * 2_950) * 100
              : undefined;
          if (amountMinor) {
            total += amountMinor;
            purchases++;
          }
          if (type !== 'MARKETING' && (!last || occurredAt > last)) last = occurredAt;
          interactions.push({
            _id: `i:${new Types.ObjectId().toHexString()}`,
            customerId: _id,
            type,
            channel:
              type === 'MARKETING'
                ? pick(['EMAIL', 'SMS', 'APP'] as const)
                : pick(CHANNELS.filter((c) => c !== 'SYSTEM')),
            description: pick(DESCRIPTIONS[type]),
            occurredAt,
            recordedAt: now,
            ...(amountMinor ? { amountMinor, currency: config.currency } : {}),
          });
        }
        const history = segmentHistory(
          joinedAt,
          interactions
            .slice(interactions.length - count)
            .map((x) => ({ at: x.occurredAt, isActivity: x.type !== 'MARKETING', amountMinor: x.amountMinor })),
          policy,
          now,
        );
        for (const move of history)
          segmentChanges.push({
            _id: new Types.ObjectId(),
            customerId: _id,
            from: move.from,
            to: move.to,
            changedAt: move.at,
            reason: move.reason,
          });
        const settled = history.at(-1)!;
        customers.push({
          _id,
          code,
          name,
          ...(email ? { email } : {}),
          ...(phone ? { phone } : {}),
          tags: random() < 0.3 ? [pick(['newsletter', 'wholesale', 'seoul', 'busan', 'online-only'])] : [],
          searchKeys: searchKeysFor({ name, email, phone, code }, config.defaultRegion),
          nameLower: name.toLowerCase(),
          segment: settled.to,
          segmentChangedAt: settled.at,
          totalPurchasesMinor: total,
          purchaseCount: purchases,
          interactionCount: count,
          ...(last ? { lastInteractionAt: last } : {}),
          lastInteractionSortAt: last ?? new Date(0),
          activityAt: last ?? joinedAt,
          joinedAt,
          rev: 0,
          createdAt: joinedAt,
          updatedAt: now,
        });
      }
      await Customer.collection.insertMany(customers as never[], { ordered: false });
      for (let k = 0; k < interactions.length; k += 2_000)
        await Interaction.collection.insertMany(interactions.slice(k, k + 2_000) as never[], { ordered: false });
      await SegmentChange.collection.insertMany(segmentChanges as never[]);
      interactionTotal += interactions.length;
      process.stderr.write(
        `\rseeded ${Math.min(start + 500, customersWanted)} of ${customersWanted} customers, ${interactionTotal} interactions`,
      );
    }
    const counts = await domain.segments.recountSegments();
    process.stderr.write('\n');
    await domain.analytics.rebuildToEnd({ onProgress: (s) => process.stderr.write(`\r${describeRebuild(s)}`) });
    process.stderr.write('\n');
    console.log(
      `Seeded ${customersWanted} customers and ${interactionTotal} interactions into "${config.mongodbDb}". Segments: ${JSON.stringify(counts)}`,
    );
  } finally {
    await disconnectDatabase();
    await database.engine?.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
