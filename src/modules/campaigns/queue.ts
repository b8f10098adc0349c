import mongoose from 'mongoose';
import { Campaign } from './model.js';

/** Campaigns waiting to send or sending: the campaign runner's queue, for status pages and gauges. */
export async function pendingCampaignsCount(): Promise<number> {
  return Campaign.countDocuments({ status: mongoose.trusted({ $in: ['SCHEDULED', 'RUNNING'] }) });
}
