import CMPI
import Core
import Foundation

/// The processes `mpirun` started, through Open MPI: the collective of a data-parallel run. Only the thread that
/// created it calls MPI (Open MPI's "funneled" level).
public final class MPIWorld: Collective {
    public let rank: Int
    public let size: Int
    /// Gradient bytes fused into one allreduce.
    public let bucketBytes: Int
    /// Seconds the training steps spent waiting for gradient sums after their backward pass, and their count.
    public private(set) var waitSeconds = 0.0
    public private(set) var exchanges = 0
    /// Bucket buffers, reused step after step: bucket k of every step uses buffer k.
    private var buffers: [BucketBuffer] = []
    private let world = cmpi_comm_world()

    /// The world when this process was started by Open MPI's `mpirun` (which sets OMPI_COMM_WORLD_SIZE), nil for a
    /// process started alone: it never initialises MPI, so it runs exactly as without it.
    public static func launched(bucketBytes: Int = defaultBucketBytes) -> MPIWorld? {
        guard ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] != nil else { return nil }
        return MPIWorld(bucketBytes: bucketBytes)
    }

    /// 25 MB: ResNet50's 94 MB of gradients in four buckets, the first started while most of backward is still to run.
    public static let defaultBucketBytes = 25 << 20

    private init(bucketBytes: Int) {
        var provided: Int32 = 0
        MPI_Init_thread(nil, nil, cmpi_thread_funneled(), &provided)
        var rank: Int32 = 0, size: Int32 = 0
        MPI_Comm_rank(world, &rank)
        MPI_Comm_size(world, &size)
        (self.rank, self.size, self.bucketBytes) = (Int(rank), Int(size), bucketBytes)
    }

    /// Leaves MPI after a run every process finished; a process that fails exits without it, and `mpirun` then
    /// ends the others.
    public func finalize() {
        MPI_Finalize()
    }

    public func sum(_ values: inout [Double]) {
        let count = Int32(values.count)
        values.withUnsafeMutableBufferPointer { _ = MPI_Allreduce(cmpi_in_place(), $0.baseAddress, count, cmpi_double(), cmpi_sum(), world) }
    }

    public func broadcast(_ values: inout [Float]) {
        let count = Int32(values.count)
        values.withUnsafeMutableBufferPointer { _ = MPI_Bcast($0.baseAddress, count, cmpi_float(), 0, world) }
    }

    public func gather(_ values: [Float]) -> [Float] {
        var counts = [Int32](repeating: 0, count: size)
        var mine = Int32(values.count)
        MPI_Allgather(&mine, 1, cmpi_int(), &counts, 1, cmpi_int(), world)
        var offsets = [Int32](repeating: 0, count: size)
        for r in 1..<max(size, 1) { offsets[r] = offsets[r - 1] + counts[r - 1] }
        var all = [Float](repeating: 0, count: Int(counts.reduce(0, +)))
        all.withUnsafeMutableBufferPointer { out in
            _ = MPI_Allgatherv(values, mine, cmpi_float(), out.baseAddress, counts, offsets, cmpi_float(), world)
        }
        return all
    }

    public func gradientExchange() -> GradientExchange { BucketExchange(self) }

    fileprivate func buffer(_ index: Int) -> BucketBuffer {
        while buffers.count <= index { buffers.append(BucketBuffer()) }
        return buffers[index]
    }

    fileprivate func waited(_ seconds: Double) {
        waitSeconds += seconds
        exchanges += 1
    }

    /// Starts summing `count` floats at `start` in place; `progress`/`wait` complete it.
    fileprivate func startSum(_ start: UnsafeMutablePointer<Float>, count: Int) -> MPI_Request? {
        var request: MPI_Request? = cmpi_request_null()
        MPI_Iallreduce(cmpi_in_place(), start, Int32(count), cmpi_float(), cmpi_sum(), world, &request)
        return request
    }
}

/// A bucket's memory; it stays where it is while its sum is in flight.
private final class BucketBuffer {
    private(set) var start = UnsafeMutablePointer<Float>.allocate(capacity: 0)
    private(set) var capacity = 0

    /// Room for `count` floats, keeping the first `used`.
    func reserve(_ count: Int, keeping used: Int) {
        guard count > capacity else { return }
        let grown = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 2 * capacity))
        grown.update(from: start, count: used)
        start.deallocate()
        (start, capacity) = (grown, max(count, 2 * capacity))
    }

    deinit { start.deallocate() }
}

/// One step's gradients: copied into the current bucket as backward finishes each layer; a bucket past the
/// size starts its allreduce at once.
private final class BucketExchange: GradientExchange {
    private struct Entry {
        let parameter: ObjectIdentifier
        let shape: [Int]
        let offset: Int
    }

    private let world: MPIWorld
    private var buckets: [(buffer: BucketBuffer, entries: [Entry], count: Int)] = []
    private var requests: [MPI_Request?] = []
    /// Floats in the last bucket, not yet started.
    private var filling = 0

    init(_ world: MPIWorld) { self.world = world }

    func add(_ parameter: ObjectIdentifier, _ gradient: Tensor) {
        if buckets.count == requests.count { buckets.append((world.buffer(buckets.count), [], 0)) }
        let last = buckets.count - 1
        buckets[last].buffer.reserve(filling + gradient.count, keeping: filling)
        gradient.data.withUnsafeBufferPointer { (buckets[last].buffer.start + filling).update(from: $0.baseAddress!, count: $0.count) }
        buckets[last].entries.append(Entry(parameter: parameter, shape: gradient.shape, offset: filling))
        filling += gradient.count
        if filling * MemoryLayout<Float>.size >= world.bucketBytes { startLast() }
    }

    private func startLast() {
        let last = buckets.count - 1
        buckets[last].count = filling
        requests.append(world.startSum(buckets[last].buffer.start, count: filling))
        filling = 0
    }

    func progress() {
        guard !requests.isEmpty else { return }
        var done: Int32 = 0
        MPI_Testall(Int32(requests.count), &requests, &done, nil)
    }

    func finish() -> [ObjectIdentifier: Tensor] {
        if buckets.count > requests.count { startLast() }
        let start = Date()
        MPI_Waitall(Int32(requests.count), &requests, nil)
        world.waited(Date().timeIntervalSince(start))
        var sums: [ObjectIdentifier: Tensor] = [:]
        for bucket in buckets {
            for (k, entry) in bucket.entries.enumerated() {
                let end = k + 1 < bucket.entries.count ? bucket.entries[k + 1].offset : bucket.count
                sums[entry.parameter] = Tensor(shape: entry.shape, data: Array(UnsafeBufferPointer(start: bucket.buffer.start + entry.offset,
                                                                                                 count: end - entry.offset)))
            }
        }
        return sums
    }
}
