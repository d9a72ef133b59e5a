// TEMPORARY until the media branch's Data/Sources lands: same shape as the contract. Delete on merge.
namespace AvBert.Data;
public sealed record MediaItem(string Path, int[] Labels, double? Start = null, double? End = null, int? Fold = null);
public sealed record MediaSource(string Name, IReadOnlyList<MediaItem> Items, IReadOnlyList<string> ClassNames, bool MultiLabel);
