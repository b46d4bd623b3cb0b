using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace SelfTune.Admin.GitHub.Client;

/// <summary>Creates the RS256 JWT that authenticates as the GitHub App itself.</summary>
public static class AppJwt
{
    /// <summary>Backdated to tolerate clock drift between us and GitHub (GitHub's own recommendation).</summary>
    public static readonly TimeSpan Backdate = TimeSpan.FromSeconds(60);

    /// <summary>GitHub rejects lifetimes over 10 minutes; stay below to allow for drift.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(9);

    static readonly JsonWebTokenHandler Handler = new() { SetDefaultTimesOnTokenCreation = false };

    // Parsing PEM is comparatively expensive and the signature-provider cache is keyed by key object,
    // so reuse one RsaSecurityKey per PEM. Bounded: keys change only on rotation.
    static readonly ConcurrentDictionary<string, RsaSecurityKey> Keys = new(StringComparer.Ordinal);

    public static string Create(GitHubAppCredentials creds, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(creds);
        ArgumentNullException.ThrowIfNull(time);

        var now = time.GetUtcNow();
        now = DateTimeOffset.FromUnixTimeSeconds(now.ToUnixTimeSeconds()); // JWT times are whole seconds
        var descriptor = new SecurityTokenDescriptor
        {
            Issuer = creds.AppId.ToString(System.Globalization.CultureInfo.InvariantCulture),
            IssuedAt = (now - Backdate).UtcDateTime,
            Expires = (now + Lifetime).UtcDateTime,
            SigningCredentials = new SigningCredentials(GetKey(creds.PrivateKeyPem), SecurityAlgorithms.RsaSha256),
        };
        return Handler.CreateToken(descriptor);
    }

    static RsaSecurityKey GetKey(string pem)
    {
        if (Keys.TryGetValue(pem, out var key)) return key;
        var rsa = RSA.Create();
        try
        {
            rsa.ImportFromPem(pem); // PKCS#1 "RSA PRIVATE KEY" and PKCS#8 "PRIVATE KEY"
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            rsa.Dispose();
            throw new GitHubNotConfiguredException(
                [$"{GitHubOptions.SectionName}:{nameof(GitHubOptions.PrivateKey)}"],
                "The GitHub App private key is not a valid RSA private key in PEM format.", e);
        }
        if (Keys.Count >= 8) Keys.Clear();
        return Keys.GetOrAdd(pem, new RsaSecurityKey(rsa));
    }
}
