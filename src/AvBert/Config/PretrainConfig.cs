namespace AvBert.Config;

/// <summary>Self-supervised pretraining (SPEC §7). Owned by the pretraining issue; [ours] choices are options here.</summary>
public sealed record PretrainConfig
{
}
