namespace AvBert.Config;

/// <summary>Semantic checks after loading: each failure names the field, the value and what would be valid.</summary>
public static class ConfigValidator
{
    public static void Validate(AvBertConfig c, string source)
    {
        var errors = new List<string>();
        void Check(bool ok, string field, object value, string valid)
        {
            if (!ok) errors.Add($"'{field}: {Format(value)}' {valid}");
        }

        var v = c.Model.Visual;
        Check(v.StageBlocks.Length == 4 && v.StageBlocks.All(b => b >= 1), "model.visual.stage_blocks", v.StageBlocks, "must list 4 stages of at least 1 block");
        Check(v.TemporalKernels.Length == 4 && v.TemporalKernels.All(k => k % 2 == 1), "model.visual.temporal_kernels", v.TemporalKernels, "must list 4 odd kernel sizes");
        Check(v.SpatialStrides.Length == 4 && v.SpatialStrides.All(s => s >= 1), "model.visual.spatial_strides", v.SpatialStrides, "must list 4 strides >= 1");
        Check(v.WidthPerGroup >= 1, "model.visual.width_per_group", v.WidthPerGroup, "must be >= 1");
        var a = c.Model.Audio;
        Check(a.StageBlocks.Length == 4 && a.StageBlocks.All(b => b >= 1), "model.audio.stage_blocks", a.StageBlocks, "must list 4 stages of at least 1 block");
        Check(a.Strides.Length == 4 && a.Strides.All(s => s >= 1), "model.audio.strides", a.Strides, "must list 4 strides >= 1");
        Check(a.SeparableStages.Length == 4, "model.audio.separable_stages", a.SeparableStages, "must list 4 booleans");
        Check(a.WidthPerGroup >= 1, "model.audio.width_per_group", a.WidthPerGroup, "must be >= 1");
        var t = c.Model.Transformer;
        Check(t.HiddenSize >= 1 && t.NumHeads >= 1 && t.HiddenSize % t.NumHeads == 0, "model.transformer.hidden_size", t.HiddenSize,
            $"must be a positive multiple of model.transformer.num_heads ({t.NumHeads})");
        Check(t.NumLayers >= 1, "model.transformer.num_layers", t.NumLayers, "must be >= 1");
        Check(t.IntermediateSize >= 1, "model.transformer.intermediate_size", t.IntermediateSize, "must be >= 1");
        Check(t.HiddenDropout is >= 0 and < 1, "model.transformer.hidden_dropout", t.HiddenDropout, "must be in [0, 1)");
        Check(t.AttentionDropout is >= 0 and < 1, "model.transformer.attention_dropout", t.AttentionDropout, "must be in [0, 1)");
        Check(t.Rank >= 1, "model.transformer.rank", t.Rank, "must be >= 1");
        var d = c.Data;
        Check(t.MaxPositions >= d.SequenceLength + 1, "model.transformer.max_positions", t.MaxPositions,
            $"must be at least data.sequence_length + 1 ({d.SequenceLength + 1}): one position per clip plus BOS");
        Check(d.NumFrames >= 1, "data.num_frames", d.NumFrames, "must be >= 1");
        Check(d.SamplingRate >= 1, "data.sampling_rate", d.SamplingRate, "must be >= 1");
        Check(d.TargetFps >= 1, "data.target_fps", d.TargetFps, "must be >= 1");
        Check(d.SequenceLength >= 1, "data.sequence_length", d.SequenceLength, "must be >= 1");
        Check(d.TrainJitterScales.Length == 2 && d.TrainJitterScales[0] <= d.TrainJitterScales[1] && d.TrainJitterScales[0] >= d.TrainCropSize,
            "data.train_jitter_scales", d.TrainJitterScales, $"must be [min, max] with data.train_crop_size ({d.TrainCropSize}) <= min <= max");
        Check(d.Mean.Length == 3 && d.Std.Length == 3 && d.Std.All(s => s > 0), "data.mean/std", d.Std, "must list 3 values each, std > 0");
        Check(d.AudioFrequency >= 1 && d.AudioTime >= 1, "data.audio_frequency/audio_time", d.AudioFrequency, "must be >= 1");
        Check(d.FrequencyMaskRate is >= 0 and < 1, "data.frequency_mask_rate", d.FrequencyMaskRate, "must be in [0, 1)");
        Check(d.TimeMaskRate is >= 0 and < 1, "data.time_mask_rate", d.TimeMaskRate, "must be in [0, 1)");
        foreach (var extra in ExtraChecks) extra(c, Check);

        if (errors.Count > 0)
            throw new ConfigError($"{source}: " + string.Join("; ", errors) + ".");
    }

    public delegate void Checker(bool ok, string field, object value, string valid);

    /// <summary>Section owners (pretraining, downstream) add their checks here from a static constructor-free registration.</summary>
    public static readonly List<Action<AvBertConfig, Checker>> ExtraChecks = [];

    static string Format(object value) => value switch
    {
        System.Collections.IEnumerable e and not string => "[" + string.Join(", ", e.Cast<object>()) + "]",
        _ => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "",
    };
}
