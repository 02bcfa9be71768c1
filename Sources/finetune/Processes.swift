import DataParallel
import Foundation

/// The processes of a data-parallel run when `mpirun` started this one, nil for a process started alone.
/// MPI starts on first use and only this thread calls it. `FINETUNE_ALLREDUCE_BUCKET_MB` sets the size of the
/// gradient buckets (docs/scaling.md measures it).
nonisolated(unsafe) let processes = MPIWorld.launched(bucketBytes: ProcessInfo.processInfo.environment["FINETUNE_ALLREDUCE_BUCKET_MB"]
    .flatMap { Int($0) }.map { max(1, $0) << 20 } ?? MPIWorld.defaultBucketBytes)
