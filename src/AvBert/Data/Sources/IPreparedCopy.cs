using AvBert.Config;

namespace AvBert.Data.Sources;

/// <summary>
/// What a prepared set (made by <c>avbert prep</c>, read by Data/Prepared) attaches to each of its items, on
/// <see cref="MediaItem.Prepared"/>: the item is served from the prepared files instead of its source file. What the
/// sources need of it is here; how it reads its clips is <c>AvBert.Data.IPreparedItem</c>, above the sources, beside the
/// clip reader it reads through.
/// </summary>
public interface IPreparedCopy
{
    /// <summary>Throws a <see cref="Runtime.UserError"/> saying how to prepare a fitting set when this item's set was made
    /// with settings <paramref name="data"/> cannot use.</summary>
    void CheckFits(DataConfig data);

    /// <summary>Whether the set keeps this item's video (its samples are then loaded in groups, see
    /// <c>VideoSequenceDataset.GroupSize</c>).</summary>
    bool HasVideo { get; }
}
