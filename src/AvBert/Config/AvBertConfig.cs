namespace AvBert.Config;

/// <summary>
/// The whole configuration: one immutable record per concern. Loaded as defaults ← preset ← YAML file ← --set overrides
/// (see <see cref="ConfigLoader"/>); written next to every model as config.yaml.
/// </summary>
public sealed record AvBertConfig
{
    public ModelConfig Model { get; init; } = new();
    public DataConfig Data { get; init; } = new();
    public PretrainConfig Pretrain { get; init; } = new();
    public DownstreamConfig Downstream { get; init; } = new();
    public TrainConfig Train { get; init; } = new();
}
