namespace AvBert.Config;

/// <summary>Semantic checks after loading: each failure names the field, the value and what would be valid.</summary>
public static class ConfigValidator
{
    public static void Validate(AvBertConfig c, string source)
    {
        var errors = new List<string>();
        var check = Collect(errors);

        ModelConfigChecks.Check(c.Model, check);
        var d = c.Data;
        var t = c.Model.Transformer;
        check(t.MaxPositions >= d.SequenceLength + 1, "model.transformer.max_positions", t.MaxPositions,
            $"must be at least data.sequence_length + 1 ({d.SequenceLength + 1}): one position per clip plus BOS");
        check(d.NumFrames >= 1, "data.num_frames", d.NumFrames, "must be >= 1");
        var slowfast = c.Model.Visual.Slowfast;
        check(c.Model.Visual.Arch != VisualCnnArch.Slowfast || c.Model.Modalities == ModelModalities.Audio || slowfast.Alpha < 1 || d.NumFrames % slowfast.Alpha == 0,
            "model.visual.slowfast.alpha", slowfast.Alpha, $"must divide data.num_frames ({d.NumFrames}): the slow pathway sees num_frames / alpha frames");
        check(d.SamplingRate >= 1, "data.sampling_rate", d.SamplingRate, "must be >= 1");
        check(d.TargetFps >= 1, "data.target_fps", d.TargetFps, "must be >= 1");
        check(d.SequenceLength >= 1, "data.sequence_length", d.SequenceLength, "must be >= 1");
        check(d.TrainJitterScales.Length == 2 && d.TrainJitterScales[0] <= d.TrainJitterScales[1] && d.TrainJitterScales[0] >= d.TrainCropSize,
            "data.train_jitter_scales", d.TrainJitterScales, $"must be [min, max] with data.train_crop_size ({d.TrainCropSize}) <= min <= max");
        check(d.Mean.Length == 3 && d.Std.Length == 3 && d.Std.All(s => s > 0), "data.mean/std", d.Std, "must list 3 values each, std > 0");
        check(d.AudioFrequency >= 1 && d.AudioTime >= 1, "data.audio_frequency/audio_time", d.AudioFrequency, "must be >= 1");
        check(d.FrequencyMaskRate is >= 0 and < 1, "data.frequency_mask_rate", d.FrequencyMaskRate, "must be in [0, 1)");
        check(d.TimeMaskRate is >= 0 and < 1, "data.time_mask_rate", d.TimeMaskRate, "must be in [0, 1)");
        PretrainConfigChecks.Check(c.Pretrain, check);
        DownstreamConfig.Check(c, check);
        TrainConfig.Check(c, check);
        ThrowIfAny(errors, source);
    }

    /// <summary>The model section alone, for a model built in code (<c>new AvBertModel(config)</c>); throws one
    /// <see cref="ConfigError"/> listing every problem.</summary>
    public static void ValidateModel(ModelConfig model, string source)
    {
        var errors = new List<string>();
        ModelConfigChecks.Check(model, Collect(errors));
        ThrowIfAny(errors, source);
    }

    static Checker Collect(List<string> errors) => (ok, field, value, valid) =>
    {
        if (!ok) errors.Add($"'{field}: {Format(value)}' {valid}");
    };

    static void ThrowIfAny(List<string> errors, string source)
    {
        if (errors.Count > 0)
            throw new ConfigError($"{source}: " + string.Join("; ", errors) + ".");
    }

    public delegate void Checker(bool ok, string field, object value, string valid);

    static string Format(object value) => value switch
    {
        System.Collections.IEnumerable e and not string => "[" + string.Join(", ", e.Cast<object>()) + "]",
        _ => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "",
    };
}
