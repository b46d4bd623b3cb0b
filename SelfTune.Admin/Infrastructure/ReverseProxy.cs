using System.Net;
using Microsoft.AspNetCore.HttpOverrides;

namespace SelfTune.Admin.Infrastructure;

/// <summary>
/// Running behind a reverse proxy or load balancer that terminates TLS. Off by default: <c>X-Forwarded-For</c> and
/// <c>X-Forwarded-Proto</c> are believed only from the proxies configuration names, since any client could send them.
/// <list type="bullet">
/// <item><c>ForwardedHeaders:KnownProxies</c>: the proxies' IP addresses, e.g. <c>10.0.0.5</c>.</item>
/// <item><c>ForwardedHeaders:KnownNetworks</c>: the proxies' networks in CIDR notation, e.g. <c>10.0.0.0/24</c>.</item>
/// </list>
/// Each is a configuration list (<c>ForwardedHeaders__KnownProxies__0=10.0.0.5</c>) or one comma-separated value
/// (<c>ForwardedHeaders__KnownProxies=10.0.0.5,10.0.0.6</c>). With either set, requests from those proxies take the
/// client's address and scheme from the headers, so HSTS, Secure cookies and the OIDC <c>redirect_uri</c> see the https
/// the browser used. The proxy must pass the original <c>Host</c> header on (X-Forwarded-Host is not read).
/// </summary>
public static class ReverseProxy
{
    public const string Section = "ForwardedHeaders";

    /// <summary>The forwarded-headers options configuration asks for, or null when it names no proxy (the default).</summary>
    /// <exception cref="InvalidOperationException">An entry is not an IP address or a CIDR network; the message names it.</exception>
    public static ForwardedHeadersOptions? OptionsFrom(IConfiguration config)
    {
        var proxies = Values(config.GetSection($"{Section}:KnownProxies"));
        var networks = Values(config.GetSection($"{Section}:KnownNetworks"));
        if (proxies.Count == 0 && networks.Count == 0) return null;

        var options = new ForwardedHeadersOptions { ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto };
        foreach (var proxy in proxies)
            options.KnownProxies.Add(IPAddress.TryParse(proxy, out var address) ? address
                : throw new InvalidOperationException($"{Section}:KnownProxies: '{proxy}' is not an IP address."));
        foreach (var network in networks)
            options.KnownIPNetworks.Add(System.Net.IPNetwork.TryParse(network, out var parsed) ? parsed
                : throw new InvalidOperationException($"{Section}:KnownNetworks: '{network}' is not a network in CIDR notation (e.g. 10.0.0.0/24)."));
        return options;
    }

    /// <summary>Applies the forwarded headers first, when configured, so everything after sees the original request.</summary>
    public static void UseReverseProxy(this WebApplication app)
    {
        if (OptionsFrom(app.Configuration) is { } options) app.UseForwardedHeaders(options);
    }

    static List<string> Values(IConfigurationSection section) =>
        (section.Value is { } single ? [single] : section.GetChildren().Select(c => c.Value ?? ""))
        .SelectMany(v => v.Split([',', ';', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        .ToList();
}
