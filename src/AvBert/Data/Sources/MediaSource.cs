namespace AvBert.Data.Sources;

/// <summary>
/// One video or audio file of a data source. <see cref="Path"/> is absolute. Labels index
/// <see cref="MediaSource.ClassNames"/> (empty when unlabeled). Start/End (seconds) restrict the item to a segment of
/// the file (Kinetics rows over untrimmed videos); Fold is the ESC-50 fold.
/// </summary>
public sealed record MediaItem(string Path, int[] Labels, double? Start = null, double? End = null, int? Fold = null)
{
    /// <summary>Per-label time spans (Charades actions); null where the source has none.</summary>
    public IReadOnlyList<LabelSpan>? Spans { get; init; }
    /// <summary>Where the source lists this item ("FILE:LINE"), for messages; null for items found by scanning a folder.</summary>
    public string? Origin { get; init; }
    /// <summary>The item as a prepared set made by <c>avbert prep</c> holds it (read instead of the source); null for plain sources.</summary>
    public IPreparedCopy? Prepared { get; init; }
    /// <summary>The split the source lists this item in ("train" or "test") when it was opened with all its splits
    /// (<c>DataSpec.OpenWithSplits</c>) and lists it in exactly one of them; null otherwise.</summary>
    public string? Split { get; init; }
}

/// <summary>Label <see cref="Label"/> happens from Start to End seconds (Charades "c092 11.90 21.20").</summary>
public sealed record LabelSpan(int Label, double Start, double End);

/// <summary>What <see cref="SourceLoader.Open"/> returns: the items of one split, the class names in label order.</summary>
public sealed record MediaSource(string Name, IReadOnlyList<MediaItem> Items, IReadOnlyList<string> ClassNames, bool MultiLabel)
{
    /// <summary>The source holds audio files only (ESC-50): audio tasks only.</summary>
    public bool AudioOnly { get; init; }
    /// <summary>Items dropped at open time because their file is missing (also reported to the SkippedLog when given).</summary>
    public int MissingFiles { get; init; }
    public bool Labeled => ClassNames.Count > 0;
    /// <summary>Official train/test splits the source's <c>,fold=N</c> selects (UCF101: 3), which `finetune --folds all` runs in turn; 0: none.</summary>
    public int OfficialSplits { get; init; }
    /// <summary>The folder the source's relative paths start from (or that it scans); items outside it are noted once.</summary>
    public string? Root { get; init; }
}

/// <summary>A data source that cannot be opened or parsed: names the file (and line) and what was expected.</summary>
public sealed class SourceError(string message) : Runtime.UserError(message);
