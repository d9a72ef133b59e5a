namespace AvBert.Training;

/// <summary>
/// A training data stream that can restart from a saved position. <see cref="Position"/> is read when a checkpoint is
/// written (always between micro-steps) and must describe the point just after the last batch handed out;
/// <see cref="Open"/> given that string must continue with the batches an uninterrupted stream would have produced.
/// The stream must not end before the run does (repeat epochs). Batches that are <see cref="IDisposable"/> are disposed
/// by the trainer after their micro-step.
/// </summary>
public interface IResumableData<out TBatch>
{
    /// <summary>Batches from <paramref name="position"/> (null: the beginning).</summary>
    IEnumerable<TBatch> Open(string? position);
    string Position { get; }
}

/// <summary>The simplest resumable stream: batch i is a function of i, the position is the count of batches taken.</summary>
public sealed class IndexedData<TBatch>(Func<long, IEnumerable<TBatch>> fromIndex) : IResumableData<TBatch>
{
    long _taken;

    public string Position => _taken.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public IEnumerable<TBatch> Open(string? position)
    {
        _taken = position is null ? 0 : long.Parse(position, System.Globalization.CultureInfo.InvariantCulture);
        foreach (var b in fromIndex(_taken))
        {
            _taken++;
            yield return b;
        }
    }
}

/// <summary>
/// Epoch-structured data (e.g. a <c>BatchLoader</c>): position "epoch:batch" = the next batch to take. Each epoch is
/// opened with the number of batches to skip at its start (only the first, after a resume).
/// </summary>
public sealed class EpochData<TBatch>(Func<int, int, IEnumerable<TBatch>> epoch) : IResumableData<TBatch>
{
    int _epoch, _batch;

    public string Position => $"{_epoch}:{_batch}";

    public IEnumerable<TBatch> Open(string? position)
    {
        (_epoch, _batch) = (0, 0);
        if (position is not null)
        {
            var parts = position.Split(':');
            _epoch = int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture);
            _batch = int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
        }
        while (true)
        {
            int produced = 0;
            foreach (var b in epoch(_epoch, _batch))
            {
                produced++;
                _batch++;
                yield return b;
            }
            if (produced == 0 && _batch == 0) yield break; // an empty epoch: the trainer reports that the data ran out
            _epoch++;
            _batch = 0;
        }
    }
}
