using AvBert.Runtime;

namespace AvBert.Config;

/// <summary>A configuration the user wrote that cannot be used: names the source, the field, the value and what is valid.</summary>
public sealed class ConfigError(string message) : UserError(message);
