import type { SegmentPolicy } from '../../shared/segment-policy.js';
import type { SegmentsService } from './service.js';

/** Per request: the segment policy, read at most once. */
export function createSegmentLoaders(segments: SegmentsService) {
  let policy: Promise<SegmentPolicy> | undefined;
  return { policy: () => (policy ??= segments.getPolicy()) };
}
