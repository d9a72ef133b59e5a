using AvBert.Runtime;

namespace AvBert.Distributed;

/// <summary>
/// A multi-process job cannot go on: a collective failed or timed out, another rank died, or MPI/NCCL could not be
/// loaded. The message names this rank and the cause; the exit code is <see cref="ExitCodes.RankFailed"/>.
/// </summary>
public sealed class DistributedError(string message, Exception? inner = null) : UserError(message, inner)
{
    public override int ExitCode => ExitCodes.RankFailed;
}
