/// The processes of a data-parallel run as training sees them. Every process makes the same calls in the
/// same order; a single process has no collective at all and trains exactly as it always has.
public protocol Collective: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// Elementwise sums over every process, in place; every process gets the same bits.
    func sum(_ values: inout [Double])
    /// Rank 0's values, in place, on every process (the buffers have the same length everywhere).
    func broadcast(_ values: inout [Float])
    /// Every process's `values`, concatenated in rank order.
    func gather(_ values: [Float]) -> [Float]
    /// Sums the gradients of one training step, in buckets started while backward still runs.
    func gradientExchange() -> GradientExchange
}

/// One step's gradient sum. Every process adds the same parameters in the same order.
public protocol GradientExchange: AnyObject {
    /// `gradient` is final for this step: it joins the sum, and a full bucket starts on its way.
    func add(_ parameter: ObjectIdentifier, _ gradient: Tensor)
    /// Lets the sums already started move on; called between layers of the backward pass.
    func progress()
    /// Waits for every sum and returns the summed gradients.
    func finish() -> [ObjectIdentifier: Tensor]
}

extension Collective {
    /// The contiguous part of `items` this process takes: shares differ by one at most, the larger ones first.
    public func share<T>(of items: [T]) -> ArraySlice<T> {
        let (base, extra) = items.count.quotientAndRemainder(dividingBy: size)
        let start = rank * base + min(rank, extra)
        return items[start..<(start + base + (rank < extra ? 1 : 0))]
    }
}
