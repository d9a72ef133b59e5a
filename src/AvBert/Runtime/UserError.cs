namespace AvBert.Runtime;

/// <summary>
/// An error the user caused and can fix (bad config, missing file, wrong device). The CLI prints its message as
/// one line and exits non-zero, without a stack trace. Messages say what, where, and how to fix.
/// </summary>
public class UserError(string message, Exception? inner = null) : Exception(message, inner);
