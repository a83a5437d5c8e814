// Package linktest holds the tables of YouTube links that both the unit tests
// of the link parser and the admission tests against a real API server use,
// so that the two agree on what a video link is.
package linktest

// Valid are the link shapes users paste, each with the video ID it names.
var Valid = map[string]string{
	"https://www.youtube.com/watch?v=dQw4w9WgXcQ":                                  "dQw4w9WgXcQ",
	"https://youtube.com/watch?v=dQw4w9WgXcQ":                                      "dQw4w9WgXcQ",
	"http://www.youtube.com/watch?v=dQw4w9WgXcQ":                                   "dQw4w9WgXcQ",
	"www.youtube.com/watch?v=dQw4w9WgXcQ":                                          "dQw4w9WgXcQ",
	"https://m.youtube.com/watch?v=dQw4w9WgXcQ&feature=share":                      "dQw4w9WgXcQ",
	"https://music.youtube.com/watch?v=dQw4w9WgXcQ&si=abc":                         "dQw4w9WgXcQ",
	"https://www.youtube.com/watch?feature=share&v=dQw4w9WgXcQ":                    "dQw4w9WgXcQ",
	"https://www.youtube.com/watch?v=dQw4w9WgXcQ&list=PLFgquLnL59alCl_2TQvOiD5Vgm": "dQw4w9WgXcQ",
	"https://www.youtube.com/watch?v=dQw4w9WgXcQ#t=42":                             "dQw4w9WgXcQ",
	"https://youtu.be/dQw4w9WgXcQ":                                                 "dQw4w9WgXcQ",
	"https://youtu.be/dQw4w9WgXcQ?t=42":                                            "dQw4w9WgXcQ",
	"https://www.youtube.com/shorts/aqz-KE-bpKQ":                                   "aqz-KE-bpKQ",
	"https://youtube.com/shorts/aqz-KE-bpKQ?feature=share":                         "aqz-KE-bpKQ",
	"https://www.youtube.com/embed/M7lc1UVf-VE":                                    "M7lc1UVf-VE",
	"https://www.youtube-nocookie.com/embed/M7lc1UVf-VE?rel=0":                     "M7lc1UVf-VE",
	"https://www.youtube.com/live/jfKfPfyJRdk":                                     "jfKfPfyJRdk",
	"https://www.youtube.com/live/jfKfPfyJRdk?si=xyz":                              "jfKfPfyJRdk",
	"https://www.youtube.com/v/dQw4w9WgXcQ":                                        "dQw4w9WgXcQ",
	"HTTPS://WWW.YOUTUBE.COM/watch?v=dQw4w9WgXcQ":                                  "dQw4w9WgXcQ",
	"https://YouTu.be/Ab_cD-3fGh1":                                                 "Ab_cD-3fGh1",
	// No scheme: read as https.
	"youtube.com/watch?v=dQw4w9WgXcQ":                 "dQw4w9WgXcQ",
	"m.youtube.com/watch?v=dQw4w9WgXcQ&t=42":          "dQw4w9WgXcQ",
	"youtu.be/dQw4w9WgXcQ?si=abc":                     "dQw4w9WgXcQ",
	"music.youtube.com/watch?v=dQw4w9WgXcQ&list=RDAM": "dQw4w9WgXcQ",
	// A trailing slash after a path ID.
	"https://youtu.be/dQw4w9WgXcQ/":                       "dQw4w9WgXcQ",
	"https://www.youtube.com/shorts/aqz-KE-bpKQ/":         "aqz-KE-bpKQ",
	"https://www.youtube-nocookie.com/embed/M7lc1UVf-VE/": "M7lc1UVf-VE",
	// Other shapes with the parameters people share them with.
	"https://youtube.com/embed/M7lc1UVf-VE?start=30&autoplay=1":            "M7lc1UVf-VE",
	"https://youtube-nocookie.com/embed/M7lc1UVf-VE":                       "M7lc1UVf-VE",
	"https://m.youtube.com/shorts/aqz-KE-bpKQ?si=xyz":                      "aqz-KE-bpKQ",
	"https://music.youtube.com/watch?v=dQw4w9WgXcQ&feature=share&si=1":     "dQw4w9WgXcQ",
	"https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=1m30s&list=PL1&index=2": "dQw4w9WgXcQ",
	"https://www.youtube.com/watch?app=desktop&v=dQw4w9WgXcQ":              "dQw4w9WgXcQ",
	// The path's ID repeated in v is one video.
	"https://www.youtube.com/embed/M7lc1UVf-VE?v=M7lc1UVf-VE": "M7lc1UVf-VE",
	// Another ID hidden elsewhere (another parameter, the fragment) does
	// not change which video the link names: v does, or the path.
	"https://www.youtube.com/watch?next=/embed/BBBBBBBBBBB&v=AAAAAAAAAAA":               "AAAAAAAAAAA",
	"https://www.youtube.com/watch?v=AAAAAAAAAAA&next=/embed/BBBBBBBBBBB":               "AAAAAAAAAAA",
	"https://www.youtube.com/watch?u=/shorts/BBBBBBBBBBB&v=AAAAAAAAAAA":                 "AAAAAAAAAAA",
	"https://www.youtube.com/watch?vv=BBBBBBBBBBB&v=AAAAAAAAAAA&xv=CCCCCCCCCCC":         "AAAAAAAAAAA",
	"https://www.youtube.com/watch?v=AAAAAAAAAAA#v=BBBBBBBBBBB":                         "AAAAAAAAAAA",
	"https://www.youtube.com/watch?v=AAAAAAAAAAA#/embed/BBBBBBBBBBB":                    "AAAAAAAAAAA",
	"https://youtu.be/AAAAAAAAAAA?list=BBBBBBBBBBB&index=CCCCCCCCCCC":                   "AAAAAAAAAAA",
	"https://youtu.be/AAAAAAAAAAA#youtu.be/BBBBBBBBBBB":                                 "AAAAAAAAAAA",
	"https://www.youtube.com/shorts/AAAAAAAAAAA?feature=/watch?v=BBBBBBBBBBB":           "AAAAAAAAAAA",
	"https://www.youtube.com/watch?v=AAAAAAAAAAA&redirect=https://youtu.be/BBBBBBBBBBB": "AAAAAAAAAAA",
}

// Invalid are links that are not links to one YouTube video.
var Invalid = []string{
	"",
	"dQw4w9WgXcQ", // a bare ID is not a link
	"https://vimeo.com/123456789",
	"https://www.youtube.com/playlist?list=PLFgquLnL59alCl_2TQvOiD5Vgm",
	"https://www.youtube.com/@RickAstleyYT",
	"https://www.youtube.com/channel/UCuAXFkgsw1L7xaCfnd5JJOw",
	"https://www.youtube.com/watch?v=dQw4w9WgXc",   // 10 characters
	"https://www.youtube.com/watch?v=dQw4w9WgXcQQ", // 12 characters
	"https://www.youtube.com/watch?v=dQw4w9WgX!Q",
	"https://www.youtube.com/watch?list=PLFgquLnL59alCl_2TQvOiD5Vgm",
	"https://www.youtube.com/watch?xv=dQw4w9WgXcQ",
	"https://youtube.com.evil.example/watch?v=dQw4w9WgXcQ",
	"https://evil.example/youtube.com/watch?v=dQw4w9WgXcQ",
	"https://notyoutube.com/watch?v=dQw4w9WgXcQ",
	"ftp://www.youtube.com/watch?v=dQw4w9WgXcQ",
	" https://www.youtube.com/watch?v=dQw4w9WgXcQ",
	"https://www.youtube.com/watch?v=dQw4w9WgXcQ\n",
	"https://youtu.be/",
	"https://gaming.youtube.com/watch?v=dQw4w9WgXcQ",
	"https://www.youtube.com/results?search_query=rick",
	"https://www.youtube.com/shorts/",
	"javascript:alert(1)//youtu.be/dQw4w9WgXcQ",
	// Two videos in one link: refused rather than guessed at.
	"https://www.youtube.com/watch?v=AAAAAAAAAAA&v=BBBBBBBBBBB",
	"https://www.youtube.com/watch?v=AAAAAAAAAAA&v=AAAAAAAAAAA",
	"https://www.youtube.com/embed/AAAAAAAAAAA?v=BBBBBBBBBBB",
	"https://www.youtube.com/shorts/AAAAAAAAAAA?v=BBBBBBBBBBB",
	"https://youtu.be/AAAAAAAAAAA?v=BBBBBBBBBBB",
	// An ID only in the fragment, or in a parameter other than v.
	"https://www.youtube.com/watch#v=dQw4w9WgXcQ",
	"https://www.youtube.com/watch?x=1#v=dQw4w9WgXcQ",
	"https://www.youtube.com/watch?next=/embed/dQw4w9WgXcQ",
	"https://www.youtube.com/watch?V=dQw4w9WgXcQ",
	// Paths that are not one of the shapes.
	"https://www.youtube.com/watch/?v=dQw4w9WgXcQ",
	"https://www.youtube.com/Watch?v=dQw4w9WgXcQ",
	"https://www.youtube.com/shorts/AAAAAAAAAAA/BBBBBBBBBBB",
	"https://www.youtube.com/embed/watch?v=dQw4w9WgXcQ",
	"https://www.youtube.com/x/embed/dQw4w9WgXcQ",
	"https://youtu.be/watch?v=dQw4w9WgXcQ",
	"https://youtu.be/embed/dQw4w9WgXcQ",
	"https://www.youtube-nocookie.com/watch?v=dQw4w9WgXcQ",
	"https://www.youtube-nocookie.com/shorts/dQw4w9WgXcQ",
	"https://www.youtube.com//watch?v=dQw4w9WgXcQ",
	"https://www.youtube.com/%77atch?v=dQw4w9WgXcQ",
	"https://youtu.be/dQw4w9WgXcQ%2F",
	// A v that is not an ID, escaped included: links never escape it,
	// and an escaped key could hide a second video (%76 is v).
	"https://www.youtube.com/watch?v=dQw4w9%57gXcQ",
	"https://www.youtube.com/embed/AAAAAAAAAAA?%76=BBBBBBBBBBB",
	"https://youtu.be/AAAAAAAAAAA?%76=BBBBBBBBBBB",
	"https://www.youtube.com/watch?v=AAAAAAAAAAA&%76=BBBBBBBBBBB",
	"https://www.youtube.com/watch?v=",
	"https://www.youtube.com/watch?v=dQw4w9WgXcQ%20",
	"https://www.youtube.com/watch?v=dQw4w9WgXcQ;x=1",
	// Hosts that are not the video hosts.
	"https://studio.youtube.com/video/dQw4w9WgXcQ",
	"https://www.youtu.be/dQw4w9WgXcQ",
	"https://img.youtube.com/vi/dQw4w9WgXcQ/0.jpg",
	"https://youtube.com:8443/watch?v=dQw4w9WgXcQ",
	"https:/www.youtube.com/watch?v=dQw4w9WgXcQ",
	"https:www.youtube.com/watch?v=dQw4w9WgXcQ",
	"https://www.youtube.com\\watch?v=dQw4w9WgXcQ",
	"https://www.youtube.com/watch?v=dQw4w9WgXcQ\t",
	"https://www.youtube.com/watch?v=dQw4w9WgXcQ\x00",
	"https://www.youtube.com/watch?v=dQw4w9WgXcQ\u00a0",
}

// Hostile are links that try to aim the worker somewhere else than YouTube,
// in the ways URL parsers are known to disagree: user info, a look-alike or
// percent-encoded host, IP literals, backslashes, control characters,
// full-width dots, YouTube's own redirector, other schemes. Each must be
// refused, by VideoID and by admission. (The worker never fetches
// spec.url: it reads only the video ID from it. Refusing these keeps it
// that way should that ever change, and tells the user at once.)
var Hostile = []string{
	"https://www.youtube.com@169.254.169.254/watch?v=dQw4w9WgXcQ",
	"https://user:pass@www.youtube.com/watch?v=dQw4w9WgXcQ",
	"https://www.youtube.com:443@evil.example/watch?v=dQw4w9WgXcQ",
	"https://youtube.com.evil.example/watch?v=dQw4w9WgXcQ",
	"https://m.youtube.com.127.0.0.1.nip.io/watch?v=dQw4w9WgXcQ",
	"https://youtu.be.evil.example/dQw4w9WgXcQ",
	"https://youtu.be/dQw4w9WgXcQ@169.254.169.254",
	"https://youtu.be/dQw4w9WgXcQ:80@169.254.169.254",
	"http://127.0.0.1:8080/watch?v=dQw4w9WgXcQ",
	"http://169.254.169.254/latest/meta-data/?v=dQw4w9WgXcQ",
	"https://[::ffff:a9fe:a9fe]/watch?v=dQw4w9WgXcQ",
	"https://[::1]:8443/watch?v=dQw4w9WgXcQ",
	"https://www.youtube.com:443/watch?v=dQw4w9WgXcQ",
	"https://www.youtube.com./watch?v=dQw4w9WgXcQ",
	"https://%77%77%77.youtube.com/watch?v=dQw4w9WgXcQ",
	"https://www.youtube.com%2F@evil.example/watch?v=dQw4w9WgXcQ",
	"https://www.youtube.com%00.evil.example/watch?v=dQw4w9WgXcQ",
	"https://www.youtube.com\\@169.254.169.254/watch?v=dQw4w9WgXcQ",
	"https:\\\\www.youtube.com\\watch?v=dQw4w9WgXcQ",
	"https://www.youtube.com/embed/dQw4w9WgXcQ\\@10.0.0.1",
	"https://www.youtube.com#@evil.example/watch?v=dQw4w9WgXcQ",
	"//www.youtube.com/watch?v=dQw4w9WgXcQ",
	"https://www.youtube.com/watch?v=dQw4w9WgXcQ\r\nHost: 10.0.0.1",
	"https://www.youtube.com/watch?v=dQw4w9WgXcQ%0d%0aHost:%2010.0.0.1",
	"https://\uff57\uff57\uff57.youtube.com/watch?v=dQw4w9WgXcQ",    // full-width www
	"https://www.youtube.com\uff0eevil.example/watch?v=dQw4w9WgXcQ", // full-width dot
	"https://www.youtube.com/redirect?q=http://10.0.0.1/",
	"https://www.youtube.com/redirect?v=dQw4w9WgXcQ&q=http://10.0.0.1/",
	"https://www.youtube.com/attribution_link?u=/watch?v=dQw4w9WgXcQ",
	"https://www.youtube.com/watch/../redirect?v=dQw4w9WgXcQ",
	"gopher://127.0.0.1:6379/_v=dQw4w9WgXcQ",
	"file:///etc/passwd?v=dQw4w9WgXcQ",
	"data:text/html,youtube.com/watch?v=dQw4w9WgXcQ",
}
