namespace AvBert.Data;

/// <summary>
/// Decoded waveforms by (file, size, modification time, range), least recently used dropped first so the total stays
/// within a byte budget. Thread-safe. Lets the K windows of a short file — and its later epochs — share one decode.
/// </summary>
internal sealed class WaveformCache
{
    readonly object _gate = new();
    readonly Dictionary<object, LinkedListNode<(object Key, float[] Wave)>> _map = new();
    readonly LinkedList<(object Key, float[] Wave)> _lru = new();
    long _bytes;

    public long Bytes { get { lock (_gate) return _bytes; } }

    public bool TryGet(object key, out float[] wave)
    {
        lock (_gate)
        {
            if (_map.TryGetValue(key, out var node))
            {
                _lru.Remove(node);
                _lru.AddFirst(node);
                wave = node.Value.Wave;
                return true;
            }
        }
        wave = [];
        return false;
    }

    /// <summary>Keeps <paramref name="wave"/> unless it alone exceeds <paramref name="budget"/>; drops the oldest to fit.</summary>
    public void Add(object key, float[] wave, long budget)
    {
        long size = (long)wave.Length * sizeof(float);
        if (size > budget) return;
        lock (_gate)
        {
            if (_map.ContainsKey(key)) return;
            while (_bytes + size > budget && _lru.Last is { } last)
            {
                _lru.RemoveLast();
                _map.Remove(last.Value.Key);
                _bytes -= (long)last.Value.Wave.Length * sizeof(float);
            }
            _map[key] = _lru.AddFirst((key, wave));
            _bytes += size;
        }
    }
}

/// <summary>Time spent decoding (FFmpeg, cache reads) and transforming (crop/flip/normalise, log-mel, masks), summed over threads.</summary>
public sealed class ReaderTimings
{
    long _decode, _transform;
    public TimeSpan Decode => System.Diagnostics.Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _decode));
    public TimeSpan Transform => System.Diagnostics.Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _transform));
    internal void AddDecode(long since) => Interlocked.Add(ref _decode, System.Diagnostics.Stopwatch.GetTimestamp() - since);
    internal void AddTransform(long since) => Interlocked.Add(ref _transform, System.Diagnostics.Stopwatch.GetTimestamp() - since);
}
