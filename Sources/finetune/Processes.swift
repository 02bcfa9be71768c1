import DataParallel

/// The processes of a data-parallel run when `mpirun` started this one, nil for a process started alone.
/// MPI starts on first use and only this thread calls it.
nonisolated(unsafe) let processes = MPIWorld.launched()
