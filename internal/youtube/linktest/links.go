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
