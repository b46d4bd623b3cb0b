namespace SelfTune.Admin.Auth;

/// <summary><c>Authentication:Oidc</c>: the browser sign-in provider.</summary>
public sealed class OidcSettings
{
    public string? Authority { get; set; }
    public string? ClientId { get; set; }
    public string? ClientSecret { get; set; }
    /// <summary>Only for test providers on plain http (loopback); production authorities must use https.</summary>
    public bool RequireHttpsMetadata { get; set; } = true;

    public bool IsConfigured => !string.IsNullOrWhiteSpace(Authority);

    public IEnumerable<string> MissingSettings()
    {
        if (string.IsNullOrWhiteSpace(Authority)) yield return "Authentication:Oidc:Authority";
        if (string.IsNullOrWhiteSpace(ClientId)) yield return "Authentication:Oidc:ClientId";
    }
}
