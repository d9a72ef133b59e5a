namespace AvBert.Config;

/// <summary>
/// Semantic checks after loading: each failure names the field, the value and what would be valid. Each section's checks
/// live beside its record (<c>XConfigChecks.Check</c> in XConfig.cs); a check that compares fields of two sections belongs
/// to the section whose field it rejects.
/// </summary>
public static class ConfigValidator
{
    public static void Validate(AvBertConfig c, string source)
    {
        var errors = new List<string>();
        var check = Collect(errors);

        ModelConfigChecks.Check(c.Model, c.Data, check);
        DataConfigChecks.Check(c.Data, check);
        PretrainConfigChecks.Check(c.Pretrain, c.Train, check);
        DownstreamConfigChecks.Check(c.Downstream, c.Model, check);
        TrainConfigChecks.Check(c.Train, check);
        ThrowIfAny(errors, source);
    }

    /// <summary>The model section alone, for a model built in code (<c>new AvBertModel(config)</c>); throws one
    /// <see cref="ConfigError"/> listing every problem.</summary>
    public static void ValidateModel(ModelConfig model, string source)
    {
        var errors = new List<string>();
        ModelConfigChecks.Check(model, null, Collect(errors));
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
